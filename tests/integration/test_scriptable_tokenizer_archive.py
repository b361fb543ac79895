"""Issue 2's user story against the real TorchServe: tokenizer scripted into the model."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from scripts.archive_scriptable_tokenizer import archive
from tests.oracles import eager_classifier_logits
from tests.torchserve_process import REPO_ROOT, torchserve

MODEL = "scriptable_tokenizer"
TEXTS = [
    "I love how smooth the ride was!",
    "Driverless cars terrify me, never getting in one.",
    "Café naïve résumé — ΣΊΣΥΦΟΣ 中文 😀",
    "meh",
    "Autonomous vehicles could save thousands of lives every year.",
    "I can't see how autonomous cars won't cause a million wrecks",
    "zero\u200bwidth and\u00a0nbsp",
    "The commute was fine, I guess.",
    "Best day ever!!! #selfdriving",
    "Why would anyone trust software with their life?",
]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(quick_sentiment_dir, tmp_path_factory):
    store = tmp_path_factory.mktemp("model_store")
    archive(quick_sentiment_dir, store)
    with torchserve(store, [f"{MODEL}={MODEL}.mar"], tmp_path_factory.mktemp("ts")) as running:
        yield running


def expected_probabilities(model_dir: Path, texts: list[str]) -> list[dict[str, float]]:
    probabilities = eager_classifier_logits(model_dir, texts, max_length=128).softmax(-1)
    return [{"Negative": float(p[0]), "Positive": float(p[1])} for p in probabilities]


def assert_close(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for label, probability in expected.items():
        assert abs(got[label] - probability) <= 1e-5, (label, got, expected)


def test_sample_file_put_as_curl_dash_t_does(server, quick_sentiment_dir):
    sample = (REPO_ROOT / "artifacts" / MODEL / "sample_text.txt").read_bytes()
    response = requests.put(f"{server.inference_url}/predictions/{MODEL}", data=sample, timeout=60)
    assert response.status_code == 200, response.text
    [expected] = expected_probabilities(quick_sentiment_dir, [sample.decode()])
    assert_close(response.json(), expected)
    assert response.text.startswith('{\n  "Negative": ')  # the JSON shape the README shows


def test_concurrent_requests_form_batches_and_match_eager(server, quick_sentiment_dir):
    bodies = TEXTS * 2
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(lambda t: server.predict(MODEL, data=t.encode()), bodies))
    expected = expected_probabilities(quick_sentiment_dir, bodies)
    for response, want in zip(responses, expected, strict=True):
        assert response.status_code == 200, response.text
        assert_close(response.json(), want)
    sizes = [len(batch) for batch in server.batches_of(responses)]
    assert max(sizes) > 1, f"no batch formed: {sizes}"


def test_bad_requests_fail_alone_in_a_mixed_batch(server, quick_sentiment_dir):
    good = [
        {"data": TEXTS[0].encode()},
        {"json": {"data": TEXTS[1]}},
        {"data": TEXTS[2], "headers": {"Content-Type": "text/plain; charset=utf-8"}},
        {"data": TEXTS[4].encode()},
    ]
    bad = [
        ({"data": b""}, "empty"),
        ({"data": b"\xc3\x28 invalid utf-8"}, "not valid UTF-8"),
        ({"data": b"GIF89a\x00\x00", "headers": {"Content-Type": "image/gif"}}, "image/gif"),
        ({"data": b"{nope", "headers": {"Content-Type": "application/json"}}, "not valid JSON"),
    ]
    calls = [kwargs for pair in zip(good, [b for b, _ in bad], strict=True) for kwargs in pair]
    with ThreadPoolExecutor(len(calls)) as pool:
        responses = list(pool.map(lambda kwargs: server.predict(MODEL, **kwargs), calls))
    good_responses, bad_responses = responses[0::2], responses[1::2]
    expected = expected_probabilities(quick_sentiment_dir, [TEXTS[i] for i in (0, 1, 2, 4)])
    for response, want in zip(good_responses, expected, strict=True):
        assert response.status_code == 200, response.text
        assert_close(response.json(), want)
    for response, (_, message) in zip(bad_responses, bad, strict=True):
        assert response.status_code == 400, response.text
        body = json.loads(response.text)
        assert body["code"] == 400 and message in body["message"]
    statuses = [{r.status_code for r in batch} for batch in server.batches_of(responses)]
    assert {200, 400} in statuses, f"no mixed batch formed: {statuses}"
    # The handler's per-request content type reaches the client, for answers and errors alike.
    assert {r.headers["Content-Type"] for r in responses} == {"application/json"}


def test_explanations_are_refused_naming_an_archive_that_explains(server, quick_sentiment_dir):
    endpoint = requests.post(f"{server.inference_url}/explanations/{MODEL}",
                             data=TEXTS[0].encode(), timeout=60)
    in_body = server.predict(MODEL, json={"data": TEXTS[0], "explain": True})
    for response in (endpoint, in_body):
        assert response.status_code == 400, response.text
        assert response.headers["Content-Type"] == "application/json"
        assert "/explanations/BERTSeqClassification" in response.json()["message"]
    plain = server.predict(MODEL, json={"data": TEXTS[0], "explain": False})
    assert plain.status_code == 200
    assert_close(plain.json(), expected_probabilities(quick_sentiment_dir, [TEXTS[0]])[0])


def test_form_field_named_data_is_the_text_and_a_bare_form_is_refused(server, quick_sentiment_dir):
    field = server.predict(MODEL, data={"data": TEXTS[2]})  # curl -d 'data=...'
    assert field.status_code == 200, field.text
    assert_close(field.json(), expected_probabilities(quick_sentiment_dir, [TEXTS[2]])[0])
    bare = server.predict(MODEL, data=TEXTS[0].encode(),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert bare.status_code == 400 and "-d 'data=...'" in bare.json()["message"]
