"""Issue 3 (token classification) against the real TorchServe, with a quick-trained model."""

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from scripts.archive_token_classifier import NAME, archive
from tests.torchserve_process import REPO_ROOT, torchserve

pytestmark = pytest.mark.integration
TEXTS = [
    "Barack Obama met Angela Merkel in Berlin.",
    "Microsoft and the Lakers tweeted from Los Angeles",
    "just watched Stranger Things again lol",
    "Café naïve résumé in Zürich 中文 😀",
    "@paulwalk It's the view from the Empire State Building",
    "Kathmandu to Reykjavik with Volkswagen engineers " * 20,  # several windows
    "hi",
]
STRATEGIES = ["none", "simple", "first", "average", "max"]


@pytest.fixture(scope="module")
def server(quick_ner_dir, tmp_path_factory):
    store = tmp_path_factory.mktemp("model_store")
    archive(quick_ner_dir, store)
    with torchserve(store, [f"{NAME}={NAME}.mar"], tmp_path_factory.mktemp("ts")) as running:
        yield running


def test_sample_file_put_as_curl_dash_t_does(server):
    sample = (REPO_ROOT / "artifacts" / "token_classification" / "sample_text.txt").read_bytes()
    response = requests.put(f"{server.inference_url}/predictions/{NAME}", data=sample, timeout=60)
    assert response.status_code == 200, response.text
    entities = response.json()
    assert isinstance(entities, list)
    for entity in entities:
        assert set(entity) == {"entity_group", "score", "word", "start", "end"}
        assert entity["entity_group"] in {"PER", "ORG", "LOC", "MISC"}
        assert 0 < entity["score"] <= 1
        assert entity["start"] < entity["end"] <= len(sample.decode())


def test_concurrent_requests_batch_and_one_malformed_gets_400(server):
    bodies = [
        {"inputs": text, "parameters": {"aggregation_strategy": STRATEGIES[i % 5]}}
        for i, text in enumerate(TEXTS)
    ]
    bodies += [{"inputs": TEXTS[0]}, {"inputs": TEXTS[1], "parameters": {"ignore_labels": []}}]
    bad = {"inputs": TEXTS[0], "parameters": {"aggregation_strategy": "longest"}}
    requests_to_send = [*bodies[:4], bad, *bodies[4:]]

    def post(body):
        return server.predict(NAME, data=json.dumps(body),
                              headers={"Content-Type": "application/json"})

    with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
        responses = list(pool.map(post, requests_to_send))
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 4 + [400] + [200] * len(bodies[4:]), [r.text for r in responses]
    assert "aggregation_strategy" in responses[4].json()["message"]
    answers = [r.json() for i, r in enumerate(responses) if i != 4]
    # The same text alone gives the same entities as inside the concurrent batch.
    for body, answer in zip(bodies[:3], answers[:3], strict=True):
        alone = post(body)
        assert alone.status_code == 200
        assert [(e["start"], e["end"], e.get("entity_group", e.get("entity"))) for e in answer] == [
            (e["start"], e["end"], e.get("entity_group", e.get("entity"))) for e in alone.json()
        ]
    assert any(r["status"] == "READY" for r in server.describe(NAME)[0]["workers"])
    model_log = (server.log_dir / "model_log.log").read_text(errors="replace")
    windows = [int(n) for n in re.findall(r"forward over (\d+) windows", model_log)]
    assert max(windows) > 1  # concurrent requests shared one forward


def test_unknown_parameter_and_bad_body_get_400(server):
    unknown = server.predict(NAME, json={"inputs": "Obama", "parameters": {"top_k": 2}})
    assert unknown.status_code == 400 and "top_k" in unknown.json()["message"]
    empty = server.predict(NAME, json={"inputs": "  "})
    assert empty.status_code == 400
