"""KServe's v1 and v2 (Open Inference Protocol) bodies through the real handlers: each request's
instances join one batch with other requests' texts, each request gets its own answer in its
protocol's shape, equal to the ``/predictions`` answers of its texts sent alone, and a bad
instance refuses only its own request, in the protocol's error shape."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from question_answering_handler import QuestionAnsweringHandler
from scripted_text_classifier_handler import ScriptedTextClassifierHandler
from sequence_classification_handler import SequenceClassificationHandler
from token_classification_handler import TokenClassificationHandler

from nlp_runtime.wire.kserve import Protocol, ProtocolError, open_envelope, seal
from tests.ner_models import save_tiny_ner
from tests.qa_models import random_qa_model
from tests.tiny_handlers import SCRIPTED_FILE, save_scripted_classifier, save_tiny_classifier
from tests.unit.test_request_errors import assert_same
from tests.worker_context import WorkerContext

KSERVE = Path(__file__).resolve().parents[2] / "handlers" / "nlp_runtime" / "wire" / "kserve.py"
TEXTS = ["I loved it", "awful, never again", "meh", "Café naïve 😀 so good"]
QA = [{"question": "Who met Bob?", "context": "Ann met Bob in Zurich."},
      {"question": "Where?", "context": "They met in Zurich on Monday."}]


def v2(data: list[Any], name: str = "text", **body: Any) -> dict[str, Any]:
    return {"inputs": [{"name": name, "shape": [len(data)], "datatype": "BYTES", "data": data}],
            **body}


def loaded(handler, model_dir: Path, serialized_file: str = "model.safetensors"):
    handler.initialize(WorkerContext(model_dir, serialized_file=serialized_file))
    return handler


def serve(handler, bodies: list[Any], explain: bool = False) -> tuple[list, dict[int, int]]:
    headers = {i: {"explain": "True"} if explain else {} for i in range(len(bodies))}
    context = WorkerContext(handler.model_dir, headers=headers, model_name="tiny")
    return handler.handle([{"body": b} for b in bodies], context), context.statuses


def alone(handler, bodies: list[Any]) -> list[Any]:
    answers = []
    for body in bodies:
        [answer], statuses = serve(handler, [body])
        assert statuses == {}, answer
        answers.append(answer)
    return answers


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return loaded(SequenceClassificationHandler(),
                  save_tiny_classifier(tmp_path_factory.mktemp("classifier")))


@pytest.fixture(scope="module")
def qa(tmp_path_factory):
    model_dir = random_qa_model(tmp_path_factory.mktemp("qa"), max_length=32, doc_stride=8)
    return loaded(QuestionAnsweringHandler(), model_dir)


@pytest.fixture(scope="module")
def ner(tmp_path_factory):
    model_dir = save_tiny_ner(tmp_path_factory.mktemp("ner"), model_name="tiny-ner",
                              mode="token_classification", max_length=32, doc_stride=8)
    return loaded(TokenClassificationHandler(), model_dir)


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    model_dir = save_scripted_classifier(tmp_path_factory.mktemp("scripted"))
    return loaded(ScriptedTextClassifierHandler(), model_dir, SCRIPTED_FILE)


def test_v1_and_v2_requests_share_a_batch_with_plain_ones_and_answer_each_text(classifier):
    bodies = [TEXTS[0], {"instances": TEXTS[1:3]}, v2(TEXTS[2:], id="req-7"), TEXTS[3]]
    results, statuses = serve(classifier, bodies)
    assert statuses == {}
    want = alone(classifier, TEXTS)
    assert_same(results[0], want[0])
    assert_same(results[3], want[3])
    assert list(results[1]) == ["predictions"]
    assert_same(results[1]["predictions"], want[1:3])
    response = results[2]
    assert [response["id"], response["model_name"], response["model_version"]] == [
        "req-7", "tiny", "1.0"]
    [output] = response["outputs"]
    assert output["name"] == "predictions" and output["datatype"] == "BYTES"
    assert output["shape"] == [2]
    assert_same([json.loads(datum) for datum in output["data"]], want[2:])


def test_a_bad_instance_refuses_its_request_alone_in_the_protocol_shape(classifier):
    bodies = [{"instances": ["fine", {"data": 3}]}, TEXTS[0], v2(["ok", ""]), v2(TEXTS[:2])]
    results, statuses = serve(classifier, bodies)
    assert statuses == {0: 400, 2: 400}
    assert results[0] == {"error": "instance 1: 'data' must be a string, got int"}
    assert results[2] == {"error": "instance 1: 'data' is empty; send a non-empty text"}
    want = alone(classifier, TEXTS[:2])
    assert_same(results[1], want[0])
    assert_same([json.loads(d) for d in results[3]["outputs"][0]["data"]], want)
    assert "id" not in results[3]  # echoed only when the request had one


def test_v2_request_parameters_are_the_task_parameters_of_every_text(ner):
    texts = ["Ann met Bob in Zurich", "Bob flew to Paris"]
    parameters = {"aggregation_strategy": "none", "ignore_labels": []}
    [response], statuses = serve(ner, [v2(texts, parameters=parameters)])
    assert statuses == {}
    want = alone(ner, [{"inputs": text, "parameters": parameters} for text in texts])
    assert_same([json.loads(d) for d in response["outputs"][0]["data"]], want)
    [refused], statuses = serve(ner, [v2(texts, parameters={"top_k": 2})])
    assert statuses == {0: 400} and refused["error"].startswith("instance 0: unknown parameter")


def test_question_answering_takes_named_inputs_or_json_data(qa):
    want = alone(qa, QA)
    pairs = {"inputs": [
        {"name": name, "shape": [2], "datatype": "BYTES", "data": [q[name] for q in QA]}
        for name in ("question", "context")
    ]}
    as_json = v2([json.dumps(q) for q in QA], name="payload")
    as_json["inputs"][0]["parameters"] = {"content_type": "application/json"}
    results, statuses = serve(qa, [pairs, as_json, {"instances": QA}])
    assert statuses == {}
    for response in results[:2]:
        assert_same([json.loads(d) for d in response["outputs"][0]["data"]], want)
    assert_same(results[2]["predictions"], want)


def test_explain_endpoints_answer_explanations(classifier):
    [v1, v2_response], statuses = serve(
        classifier, [{"instances": TEXTS[:1]}, v2(TEXTS[:1])], explain=True
    )
    assert statuses == {}
    [explained] = v1["explanations"]
    assert set(explained) == {"prediction", "explanation"}
    assert explained["explanation"]["method"] == "integrated_gradients"
    assert v2_response["outputs"][0]["name"] == "explanations"
    assert json.loads(v2_response["outputs"][0]["data"][0]) == explained


def test_archives_that_take_only_text_take_v1_and_v2_too(scripted):
    results, statuses = serve(scripted, [{"instances": TEXTS}, v2(TEXTS)])
    assert statuses == {}
    want = alone(scripted, TEXTS)
    assert_same(results[0]["predictions"], want)
    assert_same([json.loads(d) for d in results[1]["outputs"][0]["data"]], want)


def test_the_projects_own_inputs_key_is_not_mistaken_for_v2(classifier):
    [answer], statuses = serve(classifier, [{"inputs": TEXTS[0]}])
    assert statuses == {} and set(answer) == {"Negative", "Positive"}


# Every ProtocolError site of wire/kserve.py, by the body that reaches it.
BAD_BODIES = {
    "instances-not-list": ({"instances": "hi"}, 400, "'instances' must be a non-empty list"),
    "unknown-key(v1)": ({"instances": ["a"], "parameters": {}}, 400,
                        "unknown key 'parameters' in a v1 request"),
    "too-many-instances": ({"instances": ["a"] * 65}, 413,
                           "carries 65 instances, more than max_instances 64"),
    "id-not-string": (v2(["a"], id=7), 400, "'id' must be a string, got int"),
    "parameters-not-object": (v2(["a"], parameters=[1]), 400,
                              "'parameters' must be an object, got list"),
    "no-inputs": ({"inputs": []}, 400, "'inputs' is empty"),
    "two-inputs": ({"inputs": v2(["a"])["inputs"] * 2}, 400, "got 2 inputs ['text', 'text']"),
    "empty-data": (v2([]), 400, "the input holds no data"),
    "input-not-object": ({"inputs": ["a"]}, 400, "input 0 must be an object, got str"),
    "no-name": ({"inputs": [{"shape": [1], "datatype": "BYTES", "data": ["a"]}]}, 400,
                "input 0 needs a string 'name'"),
    "datatype": ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}]},
                 400, "input 'x' has datatype 'FP32'; texts are 'BYTES'"),
    "shape": ({"inputs": [{"name": "x", "shape": [3], "datatype": "BYTES", "data": ["a"]}]},
              400, "input 'x' has shape [3] for 1 data; send [1]"),
    "datum-not-string": ({"inputs": [
        {"name": "x", "shape": [1, 2], "datatype": "BYTES", "data": [["a", 5]]}]}, 400,
        "input 'x' datum 1 must be a string, got int"),
    "input-parameters": ({"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES",
                                      "data": ["a"], "parameters": "json"}]}, 400,
                         "input 'x' 'parameters' must be an object"),
    "unmatched-pairs": ({"inputs": [
        {"name": "question", "shape": [2], "datatype": "BYTES", "data": ["q", "r"]},
        {"name": "context", "shape": [1], "datatype": "BYTES", "data": ["c"]}]}, 400,
        "'question' has 2 data and 'context' 1"),
    "datum-not-json": ({"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES",
                                    "data": ["{nope"],
                                    "parameters": {"content_type": "application/json"}}]},
                       400, "datum 0 is not valid JSON"),
    "parameters-twice": ({"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES",
                                      "data": ['{"data": "a", "parameters": {}}'],
                                      "parameters": {"content_type": "application/json"}}],
                          "parameters": {"k": 1}}, 400, "parameters given both"),
    "data-not-list": ({"inputs": [{"name": "x", "shape": [1], "datatype": "BYTES",
                                   "data": "a"}]}, 400, "'data' must be a list, got str"),
    "instance-fails": ({"instances": [{"txt": 1}]}, 400,
                       "the instance: JSON body needs one of the keys"),
}


@pytest.mark.parametrize("site", list(BAD_BODIES))
def test_a_malformed_protocol_body_is_refused_alone_with_its_reason(site, classifier):
    body, status, message = BAD_BODIES[site]
    results, statuses = serve(classifier, [body, TEXTS[0]])
    assert statuses == {0: status}
    assert list(results[0]) == ["error"] and message in results[0]["error"], results[0]
    assert_same(results[1], alone(classifier, TEXTS[:1])[0])


def test_every_protocol_error_site_has_a_bad_body():
    sites = len(re.findall(r"(?<!class )\bProtocolError\(", KSERVE.read_text(encoding="utf-8")))
    assert len(BAD_BODIES) == sites


def test_open_envelope_flattens_shapes_and_leaves_other_bodies_alone():
    envelope = open_envelope({"inputs": [{"name": "t", "shape": [2, 1], "datatype": "BYTES",
                                          "data": [["a"], ["b"]]}]}, max_instances=4)
    assert envelope.protocol is Protocol.OPEN_INFERENCE
    assert envelope.bodies == ({"data": "a"}, {"data": "b"})
    for body in ({"data": "x"}, {"inputs": "x"}, {"inputs": {"question": "q"}}, "text", [1]):
        assert open_envelope(body, max_instances=4) is None
    with pytest.raises(ProtocolError) as raised:
        open_envelope({"instances": []}, max_instances=4)
    assert raised.value.to_json() == {"error": raised.value.message}


def test_seal_echoes_the_id_only_for_v2():
    v1_envelope = open_envelope({"instances": ["a"]}, 4)
    assert seal(v1_envelope, [{"p": 1}], False, "m", "2") == {"predictions": [{"p": 1}]}
    v2_envelope = open_envelope(v2(["a"], id="x"), 4)
    assert seal(v2_envelope, ["é"], True, "m", "2") == {
        "id": "x", "model_name": "m", "model_version": "2",
        "outputs": [{"name": "explanations", "shape": [1], "datatype": "BYTES",
                     "data": ['"é"']}],
    }
