"""Every ``RequestError`` site in handlers/, triggered through a handler's real ``handle``.

Each row sends the request that reaches one site, in one batch with a good request, and checks
the bad one's status, JSON ``code``, ``type`` and message, and that the good one is answered
exactly as it is alone. Row ids are ``<module>:<site>``; the sites, by module:

* text_request: ``no-body``, ``form``, ``non-text-type``, ``not-utf8``, ``nul-bytes``,
  ``invalid-json``, ``unsupported-body`` (a JSON scalar as TorchServe hands it over, parsed),
  ``json-not-object`` (a JSON scalar as raw bytes), ``no-text-key``, ``parameters-not-object``,
  ``text-not-string``, ``text-empty``, ``unpaired-surrogate``
* explain_request: ``explain-not-bool-or-object``, ``unknown-key``, ``method``,
  ``target-not-string``, ``bound`` (``n_steps`` and ``max_evals``)
* sequence_classification_handler: ``unknown-parameter``, ``target-not-a-label``
* qa_request: ``inputs-not-object``, ``missing-key``, ``parameters-not-object``,
  ``body-not-json``, ``json-array``, ``unknown-parameter``, ``invalid-parameter``,
  ``top_k-bound``, ``max_answer_len-over-window``
* question_answering_handler: ``question-too-long``
* entity_request: ``unknown-parameter``, ``invalid-parameter``
* transformer_explanations (``gradient_requests``): ``ig-only`` (NER and QA),
  ``no-target`` (QA and NER)
* transformer_model: ``eager-required`` (a traced archive asked for integrated gradients),
  ``too-many-windows`` (413)
* base: ``no-explanations`` (``mark_for_explanation``), by /explanations and by
  ``"explain"`` in the body, on the scripted and the predict_single handlers; ``undecodable``
  (any exception while decoding); ``internal-error`` (the batch's model code fails on one
  request: it alone gets a 500)
* annotated_input: ``invalid-json``, ``wrong-json-kind``, ``not-serialisable`` (500)
* predict_single_handler: ``value-error`` (400), ``other-exception`` (500)

``test_every_site_has_a_row`` counts the sites in handlers/ so a new one needs a row here.
"""

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from predict_single_handler import PredictSingleHandler
from question_answering_handler import QuestionAnsweringHandler
from scripted_text_classifier_handler import ScriptedTextClassifierHandler
from sequence_classification_handler import SequenceClassificationHandler
from token_classification_handler import TokenClassificationHandler

from tests.ner_models import save_tiny_ner
from tests.poisonable_handler import DECODER_BUG, Poisonable
from tests.qa_models import random_qa_model
from tests.tiny_handlers import (
    SCRIPTED_FILE,
    TRACED_FILE,
    save_predict_single,
    save_scripted_classifier,
    save_tiny_classifier,
    save_traced_classifier,
)
from tests.worker_context import WorkerContext

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "handlers" / "nlp_runtime"
TYPES = {400: "BadRequest", 413: "ClientError", 500: "InternalServerError"}
JSON = {"Content-Type": "application/json"}
EXPLAIN_ENDPOINT = {"explain": "True"}  # what TorchServe sets on /explanations requests
MAX_LENGTH, DOC_STRIDE = 32, 8  # QA and NER windows: 20 question tokens fit beside the stride
NER_MAX_WINDOWS = 2
NO_EXPLANATIONS = (
    "gives no explanations: send the request to /predictions without 'explain', or ask "
    "/explanations/BERTSeqClassification"
)
QA_GOOD = {"question": "Who met Bob?", "context": "Ann met Bob in Zurich."}
PREDICT_SINGLE_MODELS = '''
from torch import nn


class Payload(nn.Module):
    """A JSON object in; its keys choose the failure."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def predict_single(self, payload: dict) -> dict:
        if "refuse" in payload:
            raise ValueError("'refuse' is not a payload")
        if "crash" in payload:
            raise RuntimeError("the model broke")
        if "unserialisable" in payload:
            return {"value": object()}
        return {"keys": sorted(payload)}


class Text(Payload):
    def predict_single(self, text: str) -> str:
        return text.upper()
'''


@dataclass(frozen=True)
class Case:
    id: str  # <module>:<site>, with "(how)" when several rows reach one site
    handler: str  # the fixture serving it
    request: dict[str, Any]
    status: int
    message: str  # a distinctive part of the message
    headers: dict[str, str] = field(default_factory=dict)


def nested(depth: int) -> list:
    """A JSON array ``depth`` levels deep, built without recursion."""
    value: list = [1]
    for _ in range(depth - 1):
        value = [value]
    return value


def qa_case(status: int, message: str, **body: Any) -> dict[str, Any]:
    return {"request": {"body": {**QA_GOOD, **body}}, "status": status, "message": message}


CASES = [
    # text_request, through the sequence classifier
    Case(
        "wire.text:no-body", "classifier", {}, 400, "request has no body"),
    Case(
        "wire.text:form", "classifier", {"body": bytearray(b"a=b")}, 400,
        "sent as a form (application/x-www-form-urlencoded",
        {"Content-Type": "application/x-www-form-urlencoded"}),
    Case(
        "wire.text:non-text-type", "classifier", {"body": bytearray(b"\x89PNG")}, 400,
        "content type 'image/png'; send UTF-8 text or JSON", {"Content-Type": "image/png"}),
    Case(
        "wire.text:unpaired-surrogate", "classifier", {"body": {"data": "\ud800 abc"}}, 400,
        "'data' holds an unpaired surrogate ('\\ud800' at character 0)"),
    Case(
        "wire.text:not-utf8", "classifier", {"body": bytearray(b"\xc3\x28")}, 400,
        "not valid UTF-8 (byte 0 of 2)"),
    Case(
        "wire.text:nul-bytes", "classifier", {"body": bytearray(b"a\x00b")}, 400,
        "contains NUL bytes"),
    Case(
        "wire.text:invalid-json", "classifier", {"body": bytearray(b"{nope")}, 400,
        "body is not valid JSON: Expecting property name", JSON),
    Case(
        "wire.text:unsupported-body", "classifier", {"body": 5}, 400,
        "unsupported body of type int", JSON),
    Case(
        "wire.text:json-not-object", "classifier", {"body": bytearray(b"5")}, 400,
        "JSON body must be an object, got int", JSON),
    Case(
        "wire.text:no-text-key", "classifier", {"body": {"txt": "hi"}}, 400,
        "JSON body needs one of the keys ['data', 'inputs', 'text']; got ['txt']"),
    Case(
        "wire.text:parameters-not-object", "classifier",
        {"body": {"data": "hi", "parameters": [1]}}, 400,
        "'parameters' must be an object, got list"),
    Case(
        "wire.text:text-not-string", "classifier", {"body": {"data": 3}}, 400,
        "'data' must be a string, got int"),
    Case(
        "wire.text:text-empty", "classifier", {"body": {"inputs": "  "}}, 400,
        "'inputs' is empty"),
    # explain_request, through the sequence classifier
    Case(
        "wire.explain:explain-not-bool-or-object", "classifier",
        {"body": {"data": "hi", "explain": "yes"}}, 400,
        "'explain' must be true, false or an object, got 'yes'"),
    Case(
        "wire.explain:unknown-key", "classifier",
        {"body": {"data": "hi", "explain": {"steps": 10}}}, 400,
        "unknown 'explain' key 'steps'; known: ['method', 'n_steps', 'max_evals', 'target']"),
    Case(
        "wire.explain:method", "classifier",
        {"body": {"data": "hi", "explain": {"method": "lime"}}}, 400,
        "'explain.method' must be one of ['integrated_gradients', 'shap'], got 'lime'"),
    Case(
        "wire.explain:target-not-string", "classifier",
        {"body": {"data": "hi", "explain": {"target": 1}}}, 400,
        "'explain.target' must be a string, got 1"),
    Case(
        "wire.explain:bound(n_steps)", "classifier",
        {"body": {"data": "hi", "explain": {"n_steps": 301}}}, 400,
        "'explain.n_steps' must be an integer from 2 to 300, got 301"),
    Case(
        "wire.explain:bound(max_evals)", "classifier",
        {"body": {"data": "hi", "explain": {"method": "shap", "max_evals": True}}}, 400,
        "'explain.max_evals' must be an integer from 2 to 2000, got True"),
    # sequence_classification_handler
    Case(
        "wire.text:no-parameters(classifier)", "classifier",
        {"body": {"data": "hi", "parameters": {"top_k": 2}}}, 400,
        "unknown parameter 'top_k'; this model takes no parameters"),
    Case(
        "wire.text:no-parameters(scripted)", "scripted",
        {"body": {"data": "hi", "parameters": {"top_k": 2}}}, 400,
        "unknown parameter 'top_k'; this model takes no parameters"),
    Case(
        "wire.text:unknown-key(scripted)", "scripted", {"body": {"data": "hi", "lang": "en"}},
        400, "unknown key 'lang' in JSON body; known: ['data', 'parameters', 'explain']"),
    Case(
        "wire.text:two-text-keys", "classifier", {"body": {"data": "hi", "text": "ho"}}, 400,
        "JSON body has both 'data' and 'text'; send the text once"),
    Case(
        "tasks.sequence_classification:target-not-a-label", "classifier",
        {"body": {"data": "hi", "explain": {"target": "Neutral"}}}, 400,
        "'explain.target' 'Neutral' is not a label; labels: ['Negative', 'Positive']"),
    # qa_request
    Case(
        "wire.qa:inputs-not-object", "qa", {"body": {"inputs": "Who?"}}, 400,
        "'inputs' must be an object like {\"question\": \"...\", \"context\": \"...\"}, got str"),
    Case(
        "wire.qa:missing-key", "qa", {"body": {"question": "Who?"}}, 400,
        "missing 'context': send JSON"),
    Case(
        "wire.qa:parameters-not-object", "qa", **qa_case(
            400, "'parameters' must be an object, got int", parameters=3)),
    Case(
        "wire.qa:body-not-json", "qa", {"body": "Who met Bob?"}, 400,
        "a question is sent as JSON {\"question\": \"...\", \"context\": \"...\"}; "
        "the body is not JSON"),
    Case(
        "wire.qa:json-array", "qa", {"body": [QA_GOOD]}, 400,
        "JSON body must be an object like {\"question\": \"...\", \"context\": \"...\"}, "
        "got list", JSON),
    Case(
        "wire.text:unknown-parameter(qa)", "qa", **qa_case(
            400, "unknown parameter 'topk'; known: ['top_k',", parameters={"topk": 2})),
    Case(
        "wire.text:unknown-key(qa body)", "qa", **qa_case(
            400, "unknown key 'topk' in JSON body; known: ['question', 'context', 'parameters',",
            topk=2)),
    Case(
        "wire.text:unknown-key(qa inputs)", "qa",
        {"body": {"inputs": {**QA_GOOD, "answer": "Ann"}}}, 400,
        "unknown key 'answer' in 'inputs'; known: ['question', 'context']"),
    # values: parameters' JSON types, nothing coerced
    Case(
        "wire.values:int-minimum", "qa", **qa_case(
            400, "invalid parameter: 'top_k' must be >= 1, got 0", parameters={"top_k": 0})),
    Case(
        "wire.values:int-type", "qa", **qa_case(
            400, "invalid parameter: 'top_k' must be a JSON integer, got '2' (str)",
            parameters={"top_k": "2"})),
    Case(
        "wire.values:bool-type", "qa", **qa_case(
            400, "invalid parameter: 'handle_impossible_answer' must be true or false, got "
            "'true' (str)", parameters={"handle_impossible_answer": "true"})),
    Case(
        "wire.qa:top_k-bound", "qa", **qa_case(
            400, "'top_k' must be at most 20, got 21", parameters={"top_k": 21})),
    Case(
        "wire.qa:max_answer_len-over-window", "qa", **qa_case(
            400, f"'max_answer_len' must be at most the window length {MAX_LENGTH}, got 33",
            parameters={"max_answer_len": 33})),
    # question_answering_handler
    Case(
        "tasks.question_answering:question-too-long", "qa", **qa_case(
            400, f"question has 30 tokens; at most 20 fit in a window of 'max_length' {MAX_LENGTH}",
            question=" ".join(["who"] * 29) + "?")),
    # entity_request
    Case(
        "wire.text:unknown-parameter(ner)", "ner",
        {"body": {"inputs": "Ann", "parameters": {"top_k": 1}}}, 400,
        "unknown parameter 'top_k'; known: ['aggregation_strategy', 'ignore_labels']"),
    Case(
        "wire.entities:invalid-parameter", "ner",
        {"body": {"inputs": "Ann", "parameters": {"aggregation_strategy": "longest"}}}, 400,
        "invalid parameter: 'aggregation_strategy' must be one of"),
    # transformer_explanations.gradient_requests
    Case(
        "explain.transformer:ig-only(ner)", "ner",
        {"body": {"inputs": "Ann", "explain": {"method": "shap"}}}, 400,
        "token classification is explained by integrated_gradients only"),
    Case(
        "explain.transformer:ig-only(qa)", "qa", **qa_case(
            400, "question answering is explained by integrated_gradients only",
            explain={"method": "shap"})),
    Case(
        "explain.transformer:no-target(qa)", "qa", **qa_case(
            400, "question answering explains its own predictions; drop 'explain.target'",
            explain={"target": "Ann"})),
    Case(
        "explain.transformer:no-target(ner)", "ner",
        {"body": {"inputs": "Ann", "explain": {"target": "PER"}}}, 400,
        "token classification explains its own predictions; drop 'explain.target'"),
    # transformer_model
    Case(
        "hf.model:eager-required", "traced_classifier",
        {"body": {"data": "hi", "explain": True}}, 400,
        "runs a compiled model (TorchScript or ONNX Runtime: save_mode torchscript, onnx, "
        "onnx_int8), which cannot be differentiated"),
    Case(
        "hf.model:too-many-windows", "ner", {"body": "Ann met Bob. " * 20}, 413,
        f"text needs 4 windows of 'max_length' {MAX_LENGTH} tokens; at most {NER_MAX_WINDOWS} "
        "are served per request"),
    # base.mark_for_explanation
    Case(
        "base:no-explanations(scripted, endpoint)", "scripted",
        {"body": "some text"}, 400,
        f"ScriptedTextClassifierHandler {NO_EXPLANATIONS}", EXPLAIN_ENDPOINT),
    Case(
        "base:no-explanations(scripted, body true)", "scripted",
        {"body": {"data": "some text", "explain": True}}, 400,
        f"ScriptedTextClassifierHandler {NO_EXPLANATIONS}", JSON),
    Case(
        "base:no-explanations(scripted, body object)", "scripted",
        {"body": bytearray(b'{"text": "some text", "explain": {"method": "shap"}}')}, 400,
        f"ScriptedTextClassifierHandler {NO_EXPLANATIONS}", JSON),
    Case(
        "base:no-explanations(predict_single text, endpoint)",
        "predict_single_text", {"body": "some text"}, 400,
        f"PredictSingleHandler {NO_EXPLANATIONS}", EXPLAIN_ENDPOINT),
    Case(
        "base:no-explanations(predict_single text, body)", "predict_single_text",
        {"body": {"data": "some text", "explain": True}}, 400,
        f"PredictSingleHandler {NO_EXPLANATIONS}", JSON),
    Case(
        "base:no-explanations(predict_single object, endpoint)",
        "predict_single_object", {"body": {"a": 1}}, 400,
        f"PredictSingleHandler {NO_EXPLANATIONS}", {**JSON, **EXPLAIN_ENDPOINT}),
    # base: whatever a request's decoding or its model code raises is that request's alone
    Case(
        "base:undecodable", "poisonable", {"body": DECODER_BUG}, 400,
        "request could not be decoded: KeyError: 'a decoder bug'"),
    # limits, before any decoding
    Case(
        "limits:too-long(raw text)", "classifier", {"body": bytearray(b"a" * 100_001)}, 413,
        "a text of 100001 characters is over this archive's limit of 100000"),
    Case(
        "limits:too-long(parsed JSON string)", "qa",
        {"body": {**QA_GOOD, "context": "b" * 100_001}}, 413,
        "a text of 100001 characters is over this archive's limit of 100000"),
    Case(
        "limits:too-deep(raw JSON)", "classifier",
        {"body": bytearray(b"[" * 100_000 + b"]" * 100_000)}, 413,
        "JSON nests deeper than this archive's limit of 32 levels", JSON),
    Case(
        "limits:too-deep(parsed JSON)", "ner",
        {"body": {"inputs": "Ann", "parameters": {"x": nested(40)}}}, 413,
        "JSON nests deeper than this archive's limit of 32 levels"),
    Case(
        "base:internal-error", "poisonable", {"body": "poison pill"}, 500,
        "the handler failed on this request: FloatingPointError: kernel failed on a batch of 1"),
    # annotated_input, through a predict_single model taking a JSON object
    Case(
        "wire.annotated:invalid-json", "predict_single_object", {"body": bytearray(b"{nope")},
        400, "body is not valid JSON (Expecting property name"),
    Case(
        "wire.annotated:wrong-json-kind", "predict_single_object", {"body": [1, 2]}, 400,
        "body is a JSON list; this model takes a JSON object", JSON),
    Case(
        "wire.annotated:not-serialisable", "predict_single_object",
        {"body": {"unserialisable": 1}}, 500,
        "Payload.predict_single returned a dict that is not JSON-serialisable", JSON),
    # predict_single_handler
    Case(
        "tasks.predict_single:value-error", "predict_single_object", {"body": {"refuse": 1}},
        400, "Payload.predict_single raised ValueError: 'refuse' is not a payload", JSON),
    Case(
        "tasks.predict_single:other-exception", "predict_single_object",
        {"body": {"crash": 1}}, 500, "Payload.predict_single raised RuntimeError: the model broke",
        JSON),
]
GOOD = {
    "classifier": {"body": "a calm and quiet afternoon"},
    "traced_classifier": {"body": "a calm and quiet afternoon"},
    "qa": {"body": QA_GOOD},
    "ner": {"body": "Ann met Bob in Paris."},
    "scripted": {"body": "a short text"},
    "predict_single_text": {"body": "a short text"},
    "predict_single_object": {"body": {"b": 1, "a": 2}},
    "poisonable": {"body": "a short text"},
}


@pytest.fixture(scope="module")
def poisonable(tmp_path_factory):
    return loaded(Poisonable(), tmp_path_factory.mktemp("poisonable"))


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("classifier"))


@pytest.fixture(scope="module")
def classifier(classifier_dir):
    return loaded(SequenceClassificationHandler(), classifier_dir)


@pytest.fixture(scope="module")
def traced_classifier(classifier_dir, tmp_path_factory):
    model_dir = save_traced_classifier(classifier_dir, tmp_path_factory.mktemp("t") / "traced")
    return loaded(SequenceClassificationHandler(), model_dir, TRACED_FILE)


@pytest.fixture(scope="module")
def qa(tmp_path_factory):
    model_dir = random_qa_model(
        tmp_path_factory.mktemp("qa"), max_length=MAX_LENGTH, doc_stride=DOC_STRIDE
    )
    return loaded(QuestionAnsweringHandler(), model_dir)


@pytest.fixture(scope="module")
def ner(tmp_path_factory):
    model_dir = save_tiny_ner(
        tmp_path_factory.mktemp("ner"), model_name="tiny-ner", mode="token_classification",
        max_length=MAX_LENGTH, doc_stride=DOC_STRIDE, max_windows=NER_MAX_WINDOWS,
    )
    return loaded(TokenClassificationHandler(), model_dir)


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    model_dir = save_scripted_classifier(tmp_path_factory.mktemp("scripted"))
    return loaded(ScriptedTextClassifierHandler(), model_dir, SCRIPTED_FILE)


@pytest.fixture(scope="module")
def predict_single_text(tmp_path_factory):
    model_dir = save_predict_single(
        tmp_path_factory.mktemp("text"), PREDICT_SINGLE_MODELS, "Text", "error_models.py"
    )
    return loaded(PredictSingleHandler(), model_dir, "weights.safetensors")


@pytest.fixture(scope="module")
def predict_single_object(tmp_path_factory):
    model_dir = save_predict_single(
        tmp_path_factory.mktemp("object"), PREDICT_SINGLE_MODELS, "Payload", "error_models.py"
    )
    return loaded(PredictSingleHandler(), model_dir, "weights.safetensors")


@pytest.fixture(scope="module")
def answers_alone() -> dict[str, Any]:
    """Handler fixture name -> its answer to its good request sent alone."""
    return {}


def loaded(handler, model_dir: Path, serialized_file: str = "model.safetensors"):
    handler.initialize(WorkerContext(model_dir, serialized_file=serialized_file))
    return handler


def serve(handler, requests: list[dict], headers: list[dict]) -> tuple[list, dict[int, int]]:
    context = WorkerContext(handler.model_dir, headers=dict(enumerate(headers)))
    return handler.handle(requests, context), context.statuses


def assert_same(got: Any, want: Any) -> None:
    """Equal, floats to 1e-5 (a batch pads the good request to its neighbour's length)."""
    if isinstance(want, float):
        assert math.isclose(got, want, abs_tol=1e-5), (got, want)
    elif isinstance(want, dict):
        assert list(got) == list(want)
        for key in want:
            assert_same(got[key], want[key])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert_same(g, w)
    else:
        assert got == want


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_request_fails_alone_with_its_message(case: Case, request, answers_alone):
    handler = request.getfixturevalue(case.handler)
    good = GOOD[case.handler]
    if case.handler not in answers_alone:
        [answers_alone[case.handler]], statuses = serve(handler, [good], [{}])
        assert statuses == {}
    alone = answers_alone[case.handler]
    for bad in (0, 1):  # the bad request first, then second
        requests = [case.request, good] if bad == 0 else [good, case.request]
        headers = [case.headers, {}] if bad == 0 else [{}, case.headers]
        results, statuses = serve(handler, requests, headers)
        assert statuses == {bad: case.status}
        error = results[bad]
        assert error["code"] == case.status and error["type"] == TYPES[case.status]
        assert case.message in error["message"], error["message"]
        assert_same(results[1 - bad], alone)


def test_every_site_has_a_row():
    """As many distinct sites per module as ``RequestError(`` raised or returned there."""
    raised = {}
    for path in sorted(RUNTIME_DIR.rglob("*.py")):
        count = len(re.findall(r"(?<!class )\bRequestError\(", path.read_text(encoding="utf-8")))
        if count:
            raised[".".join(path.relative_to(RUNTIME_DIR).with_suffix("").parts)] = count
    rows: dict[str, set[str]] = {}
    for case in CASES:
        module, site = case.id.split("(")[0].split(":")
        rows.setdefault(module, set()).add(site)
    assert {module: len(sites) for module, sites in rows.items()} == raised
