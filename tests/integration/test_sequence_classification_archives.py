"""Issue 3 (sequence classification): both archives served by one real TorchServe."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from scripts.archive_sequence_classifier import (
    NAME,
    TORCHSCRIPT_NAME,
    archive,
    archive_torchscript,
)
from tests.oracles import eager_classifier_logits
from tests.torchserve_process import REPO_ROOT, torchserve

pytestmark = pytest.mark.integration
MODELS = (NAME, TORCHSCRIPT_NAME)
LABELS = ["Negative", "Positive"]
TEXTS = [
    "I loved every minute of it",
    "hi",
    "The plot was predictable, the acting wooden and the ending insulting.",
    "Café naïve résumé 中文 😀 meh",
    "never again",
    "An absolute triumph of a film " * 30,  # truncated to max_length
    "not bad at all, actually",
    "Worst. Service. Ever.",
    "It's fine I guess",
    "@someone thanks for the great tips!",
]


@pytest.fixture(scope="module")
def server(quick_sentiment_dir, tmp_path_factory):
    store = tmp_path_factory.mktemp("model_store")
    archive(quick_sentiment_dir, store)
    archive_torchscript(quick_sentiment_dir, store)
    models = [f"{name}={name}.mar" for name in MODELS]
    with torchserve(store, models, tmp_path_factory.mktemp("ts")) as running:
        yield running


def oracle(model_dir, texts: list[str]) -> list[dict[str, float]]:
    probabilities = eager_classifier_logits(model_dir, texts, 128).double().softmax(-1)
    return [dict(zip(LABELS, row, strict=True)) for row in probabilities.tolist()]


def assert_close(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for label in want:
        assert got[label] == pytest.approx(want[label], abs=1e-5), (label, got, want)


def test_concurrent_requests_to_both_archives_equal_the_eager_model(server, quick_sentiment_dir):
    jobs = [(name, text) for text in TEXTS for name in MODELS]

    def post(job):
        name, text = job
        return server.predict(name, data=json.dumps({"inputs": text}),
                              headers={"Content-Type": "application/json"})

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        responses = list(pool.map(post, jobs))
    assert [r.status_code for r in responses] == [200] * len(jobs), [r.text for r in responses]
    answers = {job: r.json() for job, r in zip(jobs, responses, strict=True)}
    for text, want in zip(TEXTS, oracle(quick_sentiment_dir, TEXTS), strict=True):
        assert_close(answers[(NAME, text)], want)
        assert_close(answers[(TORCHSCRIPT_NAME, text)], answers[(NAME, text)])
    for name in MODELS:
        ours = [r for job, r in zip(jobs, responses, strict=True) if job[0] == name]
        assert max(map(len, server.batches_of(ours))) > 1, name


def test_sample_file_put_as_curl_dash_t_does(server, quick_sentiment_dir):
    sample = (REPO_ROOT / "artifacts" / "sequence_classification" / "sample_text.txt")
    [want] = oracle(quick_sentiment_dir, [sample.read_text()])
    for name in MODELS:
        response = requests.put(
            f"{server.inference_url}/predictions/{name}", data=sample.read_bytes(), timeout=60
        )
        assert response.status_code == 200, response.text
        assert_close(response.json(), want)


def test_unknown_parameter_and_empty_text_get_400(server):
    for name in MODELS:
        unknown = server.predict(name, json={"inputs": "good", "parameters": {"top_k": 2}})
        assert unknown.status_code == 400 and "top_k" in unknown.json()["message"]
        empty = server.predict(name, json={"inputs": "  "})
        assert empty.status_code == 400
