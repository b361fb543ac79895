"""Both sequence-classification archives, run in-process, answer what the eager model does."""

import json
import shutil
from pathlib import Path

import pytest
from sequence_classification_handler import SequenceClassificationHandler
from transformers import BertTokenizerFast

from nlp_runtime.wire.text import TextRequest
from scripts.archive_sequence_classifier import archive, archive_torchscript
from tests.forward_shapes import assert_grouped_by_length, forward_shapes
from tests.oracles import eager_classifier_logits
from tests.worker_context import WorkerContext
from torchserve_nlp.archive.tracing import TRACE_TEXTS
from torchserve_nlp.serving.local_archive import LocalArchive, LocalRequest

LABELS = ["Negative", "Positive"]
MAX_LENGTH = 128  # artifacts/sequence_classification/setup_config.json
TEXTS = [
    "I loved every minute of it",
    "hi",
    "The plot was predictable, the acting wooden and the ending, frankly, insulting to "
    "anyone who sat through the first two hours hoping for something better.",
    "Café naïve résumé 中文 😀 meh",
    "never again",
]


@pytest.fixture(scope="module")
def stores(quick_sentiment_dir, tmp_path_factory) -> dict[str, Path]:
    store = tmp_path_factory.mktemp("store")
    return {
        "pretrained": archive(quick_sentiment_dir, store),
        "torchscript": archive_torchscript(quick_sentiment_dir, store),
    }


def oracle(model_dir: Path, texts: list[str]) -> list[dict[str, float]]:
    logits = eager_classifier_logits(model_dir, texts, MAX_LENGTH)
    return [dict(zip(LABELS, row, strict=True)) for row in logits.double().softmax(-1).tolist()]


def serve(mar: Path, work_dir: Path, requests: list[LocalRequest]) -> list:
    with LocalArchive.open(mar, work_dir) as opened:
        return opened.handle(requests)


def assert_close(got: list[dict], want: list[dict], tolerance: float = 1e-5) -> None:
    assert [list(g) for g in got] == [list(w) for w in want]
    for g, w in zip(got, want, strict=True):
        for label in w:
            assert g[label] == pytest.approx(w[label], abs=tolerance), (label, g, w)


def test_both_archives_equal_the_eager_model_in_forwards_grouped_by_length(
    stores, quick_sentiment_dir, tmp_path
):
    assert len(TEXTS) != len(TRACE_TEXTS)  # another batch shape than the traced one
    want = oracle(quick_sentiment_dir, TEXTS)
    lengths = [len(t) for t in _token_ids(quick_sentiment_dir, TEXTS)]
    answers = {}
    for mode, mar in stores.items():
        with LocalArchive.open(mar, tmp_path / mode) as opened, forward_shapes(opened) as forwards:
            responses = opened.handle([LocalRequest(t, "text/plain") for t in TEXTS])
        assert [r.status for r in responses] == [200] * len(TEXTS)
        answers[mode] = [r.payload for r in responses]
        assert_close(answers[mode], want)
        assert_grouped_by_length(forwards, lengths)
        assert sum(r * w for r, w in forwards) < len(TEXTS) * max(lengths)  # less padding
    assert_close(answers["torchscript"], answers["pretrained"])
    assert all(abs(sum(a.values()) - 1) < 1e-9 for a in answers["pretrained"])


def test_single_long_text_alone_as_json_and_raw_bytes(stores, quick_sentiment_dir, tmp_path):
    text = " ".join(["surprisingly good"] * 100)  # truncated to max_length
    [want] = oracle(quick_sentiment_dir, [text])
    for mode, mar in stores.items():
        responses = serve(
            mar, tmp_path / mode,
            [LocalRequest({"inputs": text}), LocalRequest(text.encode(), None)],
        )
        assert [r.status for r in responses] == [200, 200]
        assert_close([r.payload for r in responses], [want, want])


def test_bad_requests_in_a_mixed_batch_get_400_alone(stores, quick_sentiment_dir, tmp_path):
    requests = [
        LocalRequest(TEXTS[0], "text/plain"),
        LocalRequest({"inputs": "   "}),
        LocalRequest({"inputs": TEXTS[2], "parameters": {"top_k": 1}}),
        LocalRequest({"data": TEXTS[3], "parameters": {}}),
    ]
    want = oracle(quick_sentiment_dir, [TEXTS[0], TEXTS[3]])
    for mode, mar in stores.items():
        responses = serve(mar, tmp_path / mode, requests)
        assert [r.status for r in responses] == [200, 400, 400, 200], mode
        assert "empty" in responses[1].payload["message"]
        assert "'top_k'" in responses[2].payload["message"]
        assert_close([responses[0].payload, responses[3].payload], want)


def _model_dir(quick_sentiment_dir: Path, tmp_path: Path, **setup) -> Path:
    model_dir = Path(shutil.copytree(quick_sentiment_dir / "pretrained", tmp_path / "model"))
    config = {"model_name": "quick", "mode": "sequence_classification", **setup}
    (model_dir / "setup_config.json").write_text(json.dumps(config))
    return model_dir


def test_index_to_name_overrides_config_labels(quick_sentiment_dir, tmp_path):
    model_dir = _model_dir(quick_sentiment_dir, tmp_path)
    (model_dir / "index_to_name.json").write_text(json.dumps({"0": "bad", "1": "good"}))
    handler = SequenceClassificationHandler()
    handler.initialize(WorkerContext(model_dir))
    [(answer, _)] = handler.answer([TextRequest("fine")])
    [want] = oracle(quick_sentiment_dir, ["fine"])
    assert list(answer) == ["bad", "good"]
    assert list(answer.values()) == pytest.approx(list(want.values()), abs=1e-5)


@pytest.mark.parametrize(
    ("setup", "message"),
    [({"mode": "token_classification"}, "sequence_classification"), ({"num_labels": 3}, "3")],
)
def test_wrong_configuration_fails_at_load(quick_sentiment_dir, tmp_path, setup, message):
    model_dir = _model_dir(quick_sentiment_dir, tmp_path, **setup)
    with pytest.raises(ValueError, match=message):
        SequenceClassificationHandler().initialize(WorkerContext(model_dir))


def _token_ids(model_dir: Path, texts: list[str]) -> list[list[int]]:
    tokenizer = BertTokenizerFast(vocab=str(model_dir / "vocab.txt"), do_lower_case=True)
    return tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]

