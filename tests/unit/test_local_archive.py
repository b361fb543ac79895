"""A .mar run in-process through TorchServe's own loader and request decoding."""

import importlib
import sys
from pathlib import Path

import pytest
import torch

import nlp_runtime.base
from tests.tiny_archive import LengthClassifier, build_tiny_archive
from torchserve_nlp.serving.local_archive import LocalArchive, LocalRequest

TEXTS = ["I love it", "never getting in one of those cars", "meh", "Café naïve 中文 😀 ok"]


@pytest.fixture(scope="module")
def tiny_mar(tmp_path_factory) -> Path:
    return build_tiny_archive(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def archive(tiny_mar, tmp_path):
    with LocalArchive.open(tiny_mar, tmp_path) as opened:
        yield opened


def expected(texts: list[str]) -> list[dict[str, float]]:
    with torch.inference_mode():
        probabilities = torch.jit.script(LengthClassifier().eval())(texts).softmax(-1)
    return [{"Negative": float(p[0]), "Positive": float(p[1])} for p in probabilities]


def assert_close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for label in want:
        assert got[label] == pytest.approx(want[label], abs=1e-6), (label, got, want)


def test_batch_size_comes_from_the_archive_model_config(archive):
    assert archive.batch_size == 4
    assert archive.info.model_name == "tiny_classifier"


def test_probabilities_match_the_scripted_module(archive):
    requests = [
        LocalRequest(TEXTS[0], "text/plain"),
        LocalRequest(TEXTS[1].encode()),
        LocalRequest({"data": TEXTS[2]}),
        LocalRequest(TEXTS[3], "text/plain; charset=utf-8"),
    ]
    responses = archive.handle(requests)
    assert [r.status for r in responses] == [200] * 4
    for response, want in zip(responses, expected(TEXTS), strict=True):
        assert_close(response.payload, want)


def test_json_is_parsed_only_when_sent_as_json(archive):
    body = '{"data": "meh"}'
    as_json, as_bytes = archive.handle(
        [LocalRequest(body, "application/json"), LocalRequest(body.encode())]
    )
    assert_close(as_json.payload, expected(["meh"])[0])
    assert_close(as_bytes.payload, expected([body])[0])  # raw bytes are the text itself


def test_a_bad_request_fails_alone(archive):
    responses = archive.handle([
        LocalRequest(TEXTS[0].encode()),
        LocalRequest(b"\xc3\x28 invalid utf-8"),
        LocalRequest({"inputs": 3}),
        LocalRequest(TEXTS[2], "text/plain"),
    ])
    assert [r.status for r in responses] == [200, 400, 400, 200]
    assert "not valid UTF-8" in responses[1].phrase
    assert responses[1].payload["type"] == "BadRequest"
    assert "must be a string" in responses[2].payload["message"]
    assert_close(responses[0].payload, expected([TEXTS[0]])[0])
    assert_close(responses[3].payload, expected([TEXTS[2]])[0])


def test_batches_larger_than_served_are_refused(archive):
    with pytest.raises(ValueError, match="batch of 5 requests"):
        archive.handle([LocalRequest("x")] * 5)


def test_two_archives_in_one_process_keep_their_own_modules(tmp_path):
    first_mar = build_tiny_archive(tmp_path / "first")
    second_mar = build_tiny_archive(tmp_path / "second", {"0": "Bad", "1": "Good"})
    # Whatever the test process had imported under the handler's name (another test may
    # have imported it from handlers/) is what it has again once both archives closed.
    before = sys.modules.get("scripted_text_classifier_handler")
    with (
        LocalArchive.open(first_mar, tmp_path / "work") as first,
        LocalArchive.open(second_mar, tmp_path / "work", batch_size=2) as second,
    ):
        module_file = Path(sys.modules["nlp_runtime.base"].__file__)
        assert module_file.parent == second.info.model_dir / "nlp_runtime"
        assert first.info.model_dir != second.info.model_dir
        [from_first] = first.handle([LocalRequest("meh")])
        [from_second] = second.handle([LocalRequest("meh")])
        assert set(from_first.payload) == {"Negative", "Positive"}
        assert set(from_second.payload) == {"Bad", "Good"}
        assert second.batch_size == 2
    assert str(first.info.model_dir) not in sys.path
    assert str(second.info.model_dir) not in sys.path
    assert sys.modules.get("scripted_text_classifier_handler") is before
    # handlers/ (on the test path) imported it first; it is back once both archives closed.
    assert sys.modules["nlp_runtime.base"] is nlp_runtime.base


def test_closing_out_of_order_leaves_no_archive_module_behind(tiny_mar, tmp_path):
    first = LocalArchive.open(tiny_mar, tmp_path)
    second = LocalArchive.open(tiny_mar, tmp_path)
    first.close()
    module_file = Path(sys.modules["nlp_runtime.base"].__file__)
    assert module_file.parent == second.info.model_dir / "nlp_runtime"
    second.close()
    reimported = importlib.import_module("nlp_runtime.base")
    assert Path(reimported.__file__).parent.parent.name == "handlers"


def test_a_file_that_is_not_an_archive_is_refused(tmp_path):
    not_mar = tmp_path / "model.mar"
    not_mar.write_text("not a zip")
    with pytest.raises(ValueError, match="not a .mar"):
        LocalArchive.open(not_mar, tmp_path / "work")
