"""Issue 3 (token classification) against the real TorchServe, serving the planted model of
tests/ner_models.py, whose entities are known, in windows small enough that one text spans
several. Served entities are compared with the transformers pipeline run on the same model."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from transformers import BertTokenizerFast

from nlp_runtime.hf.config import AggregationStrategy
from scripts.archive_token_classifier import NAME, archive
from tests.ner_models import planted_ner_model
from tests.oracles import assert_same_entities
from tests.oracles import pipeline_entities as reference
from tests.torchserve_process import REPO_ROOT, torchserve

pytestmark = pytest.mark.integration
STRATEGIES = [strategy.value for strategy in AggregationStrategy]
MAX_LENGTH, STRIDE = 24, 8  # windows small enough that LONG_TEXT spans several
FILLER = "Nobody on the committee agreed about the roads, the budget or the library. "
LONG_TEXT = FILLER * 3 + "Then Obama flew from Reykjavik to Kathmandu with Volkswagen engineers."
# Per text, what the "simple" strategy finds: (entity_group, word, the text it spans).
KNOWN = {
    "Barack Obama met Angela Merkel in Berlin.": [
        ("PER", "obama", "Obama"), ("PER", "merkel", "Merkel"), ("LOC", "berlin", "Berlin"),
    ],
    "Satya Nadella met Schwarzenegger in Zürich with Microsoft": [
        ("LOC", "nad", "Nad"), ("ORG", "##ella", "ella"),
        ("PER", "schwarzenegger", "Schwarzenegger"), ("LOC", "zurich", "Zürich"),
        ("ORG", "microsoft", "Microsoft"),
    ],
    LONG_TEXT: [
        ("PER", "obama", "Obama"), ("LOC", "reykjavik", "Reykjavik"),
        ("LOC", "kathmandu", "Kathmandu"), ("ORG", "volkswagen", "Volkswagen"),
    ],
    "Café naïve résumé in Zürich 中文 😀": [("LOC", "zurich", "Zürich")],
}
TEXTS = list(KNOWN)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return planted_ner_model(
        tmp_path_factory.mktemp("planted_ner"), max_length=MAX_LENGTH, doc_stride=STRIDE
    )


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    store = tmp_path_factory.mktemp("model_store")
    archive(model_dir, store, setup_config=model_dir / "setup_config.json")
    with torchserve(store, [f"{NAME}={NAME}.mar"], tmp_path_factory.mktemp("ts")) as running:
        yield running


def pipeline_entities(model_dir: Path, text: str, strategy: str) -> list[dict]:
    """The pipeline windowing as the archive does ("none" refuses a stride; the planted
    model scores a token alike in any window, so one window of the whole text answers)."""
    stride = None if strategy == "none" else STRIDE
    return reference(model_dir, text, strategy, stride, MAX_LENGTH)


def spans(text: str, entities: list[dict]) -> list[tuple[str, str, str]]:
    return [(e["entity_group"], e["word"], text[e["start"] : e["end"]]) for e in entities]


def test_sample_file_put_as_curl_dash_t_does(server, model_dir):
    sample = (REPO_ROOT / "artifacts" / "token_classification" / "sample_text.txt").read_text()
    response = requests.put(f"{server.inference_url}/predictions/{NAME}", data=sample.encode(),
                            timeout=60)
    assert response.status_code == 200, response.text
    assert_same_entities(response.json(), pipeline_entities(model_dir, sample, "simple"))
    assert spans(sample, response.json()) == [
        ("PER", "obama", "Obama"), ("PER", "merkel", "Merkel"), ("LOC", "berlin", "Berlin"),
        ("ORG", "microsoft", "Microsoft"),
    ]


def test_long_text_spans_three_windows_with_entities_past_the_second(model_dir):
    """Guards the served comparison: the archived tokenizer splits LONG_TEXT into at least
    three windows, and its entities lie beyond the first two."""
    tokenizer = BertTokenizerFast.from_pretrained(model_dir)
    windows = tokenizer(
        LONG_TEXT, truncation=True, max_length=MAX_LENGTH, stride=STRIDE,
        return_overflowing_tokens=True, return_offsets_mapping=True,
    )["offset_mapping"]
    assert len(windows) >= 3
    second_window_end = windows[1][-2][1]  # the last text token's end, before [SEP]
    assert LONG_TEXT.index("Obama") > second_window_end


def test_concurrent_requests_batch_and_equal_the_pipeline_for_every_strategy(server, model_dir):
    jobs = [(text, strategy) for text in TEXTS for strategy in STRATEGIES]
    bad = {"inputs": TEXTS[0], "parameters": {"aggregation_strategy": "longest"}}
    bodies = [{"inputs": t, "parameters": {"aggregation_strategy": s}} for t, s in jobs]
    bodies.insert(3, bad)

    def post(body):
        return server.predict(NAME, data=json.dumps(body),
                              headers={"Content-Type": "application/json"})

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        responses = list(pool.map(post, bodies))
    rejected = responses.pop(3)
    assert rejected.status_code == 400 and "aggregation_strategy" in rejected.json()["message"]
    assert [r.status_code for r in responses] == [200] * len(jobs), [r.text for r in responses]
    served = {job: r.json() for job, r in zip(jobs, responses, strict=True)}
    for (text, strategy), entities in served.items():
        assert entities, (text, strategy)
        assert_same_entities(entities, pipeline_entities(model_dir, text, strategy))
    for text, known in KNOWN.items():
        assert spans(text, served[(text, "simple")]) == known
    nadella = [e["entity_group"] for e in served[(TEXTS[1], "first")] + served[(TEXTS[1], "max")]
               if e["word"] == "nadella"]
    assert nadella == ["LOC", "ORG"]  # each request is aggregated by its own strategy
    assert max(map(len, server.batches_of([*responses, rejected]))) > 1


def test_unknown_parameter_and_bad_body_get_400(server):
    unknown = server.predict(NAME, json={"inputs": "Obama", "parameters": {"top_k": 2}})
    assert unknown.status_code == 400 and "top_k" in unknown.json()["message"]
    empty = server.predict(NAME, json={"inputs": "  "})
    assert empty.status_code == 400
