"""Issue 3: one real TorchServe serving the four Transformer archives (and the traced QA one).

Sequence classification comes from a quick-trained model; QA and NER from the planted models
of tests/qa_models.py and tests/ner_models.py, whose answers and entities are known.
"""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from scripts import archive_question_answering as qa_archive
from scripts import archive_sequence_classifier as seq_archive
from scripts import archive_token_classifier as ner_archive
from tests.ner_models import planted_ner_model
from tests.oracles import assert_same_entities, pipeline_entities
from tests.qa_models import END_WORD, START_WORD, planted_qa_model
from tests.torchserve_process import REPO_ROOT, torchserve

pytestmark = pytest.mark.integration
NER_MAX_LENGTH, NER_STRIDE = 24, 8  # the planted NER model's windows
QA = qa_archive.NAME
QA_TRACED = f"{QA}_Torchscript"
MODELS = {
    seq_archive.NAME: "sequence_classification",
    seq_archive.TORCHSCRIPT_NAME: "sequence_classification",
    QA: "question_answering",
    QA_TRACED: "question_answering",
    ner_archive.NAME: "token_classification",
}
ANSWER = f"{START_WORD} crossing {END_WORD}"
FILLER = "Nobody on the committee agreed about the roads, the budget or the library. "


def context_with_answer(position: int) -> str:
    return FILLER * position + f"At noon a {ANSWER} walked past the café. " + FILLER * 2


@pytest.fixture(scope="module")
def ner_dir(tmp_path_factory) -> Path:
    return planted_ner_model(
        tmp_path_factory.mktemp("planted_ner"), max_length=NER_MAX_LENGTH, doc_stride=NER_STRIDE
    )


@pytest.fixture(scope="module")
def server(quick_sentiment_dir, ner_dir, tmp_path_factory):
    store = tmp_path_factory.mktemp("model_store")
    seq_archive.archive(quick_sentiment_dir, store)
    seq_archive.archive_torchscript(quick_sentiment_dir, store)
    ner_archive.archive(ner_dir, store, setup_config=ner_dir / "setup_config.json")
    planted = planted_qa_model(tmp_path_factory.mktemp("planted"), max_length=48, doc_stride=16)
    setup = planted / "setup_config.json"
    qa_archive.archive(planted, store, setup_config=setup)
    qa_archive.archive_torchscript(planted, store, setup_config=setup, name=QA_TRACED)
    models = [f"{name}={name}.mar" for name in MODELS]
    with torchserve(store, models, tmp_path_factory.mktemp("ts")) as running:
        yield running


def test_every_archive_answers_its_sample_file_put_as_curl_dash_t_does(server, ner_dir):
    for name, task in MODELS.items():
        sample = (REPO_ROOT / "artifacts" / task / "sample_text.txt").read_bytes()
        response = requests.put(f"{server.inference_url}/predictions/{name}", data=sample,
                                timeout=60)
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        if task == "question_answering":
            context = json.loads(sample)["context"]
            assert set(body) == {"answer", "score", "start", "end"}
            assert context[body["start"] : body["end"]] == body["answer"]
        elif task == "sequence_classification":
            assert set(body) == {"Negative", "Positive"}
            assert sum(body.values()) == pytest.approx(1.0)
        else:
            assert body, "the planted model finds entities in the sample"
            want = pipeline_entities(
                ner_dir, sample.decode(), "simple", NER_STRIDE, NER_MAX_LENGTH
            )
            assert_same_entities(body, want)


def test_concurrent_questions_batch_and_find_answers_in_any_window(server):
    bodies = [
        {"question": "What walked past?", "context": context_with_answer(i % 5)}
        for i in range(16)
    ]
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        responses = list(pool.map(lambda b: server.predict(QA, json=b), bodies))
    for body, response in zip(bodies, responses, strict=True):
        assert response.status_code == 200, response.text
        answer = response.json()
        start = body["context"].index(ANSWER)
        assert (answer["answer"], answer["start"], answer["end"]) == (
            ANSWER, start, start + len(ANSWER)
        )
    assert max(map(len, server.batches_of(responses))) > 1


def test_traced_archive_gives_the_pretrained_archives_answers(server):
    bodies = [
        {"question": "What walked past?", "context": context_with_answer(3),
         "parameters": {"top_k": 3}},
        {"question": "What?", "context": FILLER * 3,
         "parameters": {"top_k": 2, "handle_impossible_answer": True}},
        {"question": "Where?", "context": "Café naïve résumé in Zürich 中文 😀, a zebra."},
    ]
    for body in bodies:
        pretrained = server.predict(QA, json=body).json()
        traced = server.predict(QA_TRACED, json=body).json()
        pretrained = pretrained if isinstance(pretrained, list) else [pretrained]
        traced = traced if isinstance(traced, list) else [traced]
        assert [(a["answer"], a["start"], a["end"]) for a in traced] == [
            (a["answer"], a["start"], a["end"]) for a in pretrained
        ]
        for a, b in zip(traced, pretrained, strict=True):
            assert a["score"] == pytest.approx(b["score"], abs=1e-4)


def test_mixed_batch_bad_questions_get_400_alone(server):
    good = {"question": "What walked past?", "context": context_with_answer(1)}
    bad = [
        b"not json at all",
        {"context": "no question here"},
        {"question": "Who?", "context": ""},
        {"question": "Who?", "context": "x", "parameters": {"top_k": "many"}},
    ]
    requests_to_send = [good, *bad, good, good, good]

    def send(body):
        if isinstance(body, bytes):
            return requests.put(f"{server.inference_url}/predictions/{QA}", data=body, timeout=60)
        return server.predict(QA, json=body)

    with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
        responses = list(pool.map(send, requests_to_send))
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 400, 400, 400, 400, 200, 200, 200], [r.text for r in responses]
    for response in responses[1:5]:
        assert response.json()["code"] == 400 and response.json()["message"]
    assert all(r.json()["answer"] == ANSWER for i, r in enumerate(responses) if statuses[i] == 200)
    statuses = [{r.status_code for r in batch} for batch in server.batches_of(responses)]
    assert {200, 400} in statuses, "no batch held both good and bad requests"


def test_explanations_endpoint_explains_every_request_of_a_batch(server):
    texts = ["I loved every minute of it", "never again, awful", "Café naïve 😀 so good"]

    def explain(args):
        name, text = args
        return requests.post(f"{server.inference_url}/explanations/{name}",
                             data=text.encode(), timeout=120)

    jobs = [(seq_archive.NAME, text) for text in texts] + [(seq_archive.TORCHSCRIPT_NAME, texts[0])]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        responses = list(pool.map(explain, jobs))
    for (_, text), response in zip(jobs[:3], responses[:3], strict=True):
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body["prediction"]) == {"Negative", "Positive"}
        explanation = body["explanation"]
        assert explanation["method"] == "integrated_gradients"
        assert explanation["text"] == text
        assert all(text[r["start"] : r["end"]] == r["text"] for r in explanation["attributions"])
    traced = responses[3]
    assert traced.status_code == 400 and "TorchScript" in traced.json()["message"]
    # SageMaker style: the same explanation asked for in the body of a prediction request.
    asked = server.predict(seq_archive.NAME, json={"data": texts[1], "explain": True})
    assert asked.status_code == 200 and asked.json()["explanation"]["text"] == texts[1]


def test_qa_and_ner_archives_explain_through_the_explanations_endpoint(server):
    context = context_with_answer(2)
    qa = requests.post(
        f"{server.inference_url}/explanations/{QA}",
        json={"question": "What walked past?", "context": context}, timeout=120,
    )
    assert qa.status_code == 200, qa.text
    assert qa.json()["prediction"]["answer"] == ANSWER
    rows = qa.json()["explanation"]["attributions"]
    assert {r["text"] for r in sorted(rows, key=lambda r: -r["score"])[:2]} == {
        START_WORD, END_WORD
    }
    text = FILLER * 2 + "Barack Obama met Angela Merkel in Berlin."  # in later windows
    ner = requests.post(f"{server.inference_url}/explanations/{ner_archive.NAME}",
                        data=text.encode(), timeout=120)
    assert ner.status_code == 200, ner.text
    body = ner.json()
    assert [e["word"] for e in body["prediction"]] == ["obama", "merkel", "berlin"]
    assert [e["target"] for e in body["explanation"]] == [
        "PER: obama", "PER: merkel", "LOC: berlin"
    ]
    for entity, explanation in zip(body["prediction"], body["explanation"], strict=True):
        rows = explanation["attributions"]
        assert all(text[r["start"] : r["end"]] == r["text"] for r in rows)
        # The planted model labels a token from its own embedding alone.
        assert [r["text"] for r in rows if abs(r["score"]) > 1e-3] == [
            text[entity["start"] : entity["end"]]
        ]
