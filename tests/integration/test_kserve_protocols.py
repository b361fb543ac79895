"""KServe's v1 and v2 protocols through the real TorchServe, mixed into dynamic batches.

One TorchServe (Open Inference Protocol on, batches of up to 8 with a 300 ms delay) serves a
tiny sequence classifier and a tiny QA model. Requests of every protocol are sent at once, on
TorchServe's own KServe routes (``/v1/models/<m>:predict``, ``/v2/models/<m>/infer``) and on
``/predictions``; v2 bodies are built and read with the ``kserve`` SDK's types. Each request
must get its own answer, equal to the ``/predictions`` answers of its texts sent alone, and a
request with a bad instance its protocol's 400 alone; TorchServe's log proves the batches.
"""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import requests
from kserve import (
    InferenceGRPCClient,
    InferenceRESTClient,
    InferInput,
    InferRequest,
    InferResponse,
    RESTConfig,
)
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

from scripts import archive_question_answering as qa_archive
from scripts import archive_sequence_classifier as seq_archive
from tests.fuzz_archives import with_batching
from tests.tiny_pair import tiny_seq_and_qa
from tests.torchserve_process import RunningServer, free_port, torchserve
from tests.unit.test_request_errors import assert_same

pytestmark = pytest.mark.integration
SEQ, QA = seq_archive.NAME, qa_archive.NAME
TEXTS = ["I loved it", "awful, never again", "meh", "Café naïve 😀 so good", "fine"]
QUESTIONS = [("Who met Bob?", "Ann met Bob in Zurich."),
             ("Where did they meet?", "They met in Zurich on Monday, by the lake.")]
# TorchServe's name for the Open Inference Protocol's gRPC service; KServe's is
# "inference.GRPCInferenceService". The messages are the same.
TORCHSERVE_OIP = "/org.pytorch.serve.grpc.openinference.GRPCInferenceService/ModelInfer"


@dataclass(frozen=True)
class Served:
    server: RunningServer
    grpc_address: str


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Served:
    root = tmp_path_factory.mktemp("kserve")
    pair = tiny_seq_and_qa(root, max_length=48, doc_stride=16)
    seq_mar, qa_mar, store = pair.seq_mar, pair.qa_mar, root / "model_store"
    for mar in (seq_mar, qa_mar):
        with_batching(mar, store, batch_size=8, delay_ms=300)
    grpc_port = free_port()
    config = {"ts_open_inference_protocol": "true", "grpc_inference_port": grpc_port}
    models = [f"{SEQ}={seq_mar.name}", f"{QA}={qa_mar.name}"]
    with torchserve(store, models, root / "ts", extra_config=config) as server:
        yield Served(server, f"127.0.0.1:{grpc_port}")


def v1(server: RunningServer, model: str, instances: list, verb: str = "predict"):
    return requests.post(f"{server.inference_url}/v1/models/{model}:{verb}",
                         json={"instances": instances}, timeout=120)


def v2(server: RunningServer, model: str, request: InferRequest | dict, verb: str = "infer"):
    body = request.to_rest()[0] if isinstance(request, InferRequest) else request
    return requests.post(f"{server.inference_url}/v2/models/{model}/{verb}", json=body,
                         timeout=120)


def texts_request(texts: list[str], request_id: str | None = None, **kwargs) -> InferRequest:
    return InferRequest(SEQ, [InferInput("text", [len(texts)], "BYTES", texts)],
                        request_id=request_id, **kwargs)


def outputs(response: requests.Response) -> list[Any]:
    """The answers of a v2 response, read with the SDK's InferResponse."""
    assert response.status_code == 200, response.text
    parsed = InferResponse.from_rest(response.json())
    [output] = parsed.outputs
    return [json.loads(datum) for datum in output.data]


def solo(server: RunningServer, model: str, bodies: list[Any]) -> list[Any]:
    answers = []
    for body in bodies:
        response = server.predict(model, json=body)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


def test_every_protocol_in_one_batch_each_request_answered_alone(served):
    server = served.server
    want = solo(server, SEQ, [{"data": text} for text in TEXTS])
    sends = [
        lambda: server.predict(SEQ, data=TEXTS[0].encode()),
        lambda: v1(server, SEQ, TEXTS[1:3]),
        lambda: v2(server, SEQ, texts_request(TEXTS[2:5], request_id="sdk-1")),
        lambda: v1(server, SEQ, [TEXTS[0], {"data": 5}]),
        lambda: v2(server, SEQ, texts_request(["fine", "  "])),
    ]
    for _ in range(3):  # until a batch mixes protocols (TorchServe's delay makes it likely)
        with ThreadPoolExecutor(len(sends)) as pool:
            responses = list(pool.map(lambda send: send(), sends))
        if any(len(batch) >= 3 for batch in server.batches_of(responses)):
            break
    else:
        pytest.fail("no batch held three of the five requests in three rounds")
    plain, first, second, bad_v1, bad_v2 = responses
    assert_same(plain.json(), want[0])
    assert first.status_code == 200 and list(first.json()) == ["predictions"]
    assert_same(first.json()["predictions"], want[1:3])
    assert second.json()["id"] == "sdk-1" and second.json()["model_name"] == SEQ
    assert_same(outputs(second), want[2:5])
    assert (bad_v1.status_code, bad_v1.json()) == (
        400, {"error": "instance 1: 'data' must be a string, got int"})
    assert bad_v2.status_code == 400
    assert bad_v2.json() == {"error": "instance 1: 'data' is empty; send a non-empty text"}


def test_question_answering_pairs_as_named_inputs_and_instances(served):
    server = served.server
    want = solo(server, QA, [{"question": q, "context": c} for q, c in QUESTIONS])
    request = InferRequest(QA, [
        InferInput("question", [2], "BYTES", [q for q, _ in QUESTIONS]),
        InferInput("context", [2], "BYTES", [c for _, c in QUESTIONS]),
    ], parameters={"top_k": 1})
    instances = [{"question": q, "context": c} for q, c in QUESTIONS]
    with ThreadPoolExecutor(2) as pool:
        named = pool.submit(v2, server, QA, request)
        listed = pool.submit(v1, server, QA, instances)
    assert_same(outputs(named.result()), want)
    assert_same(listed.result().json()["predictions"], want)


def test_explain_routes_answer_explanations(served):
    server = served.server
    explained = v1(server, SEQ, TEXTS[:1], verb="explain")
    assert explained.status_code == 200, explained.text
    [one] = explained.json()["explanations"]
    assert one["explanation"]["method"] == "integrated_gradients"
    by_v2 = v2(server, SEQ, texts_request(TEXTS[:1]), verb="explain")
    assert by_v2.status_code == 200, by_v2.text
    assert by_v2.json()["outputs"][0]["name"] == "explanations"
    assert outputs(by_v2) == [one]


def test_the_sdks_rest_client_talks_to_torchserve(served):
    async def infer() -> InferResponse:
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=120))
        try:
            return await client.infer(served.server.inference_url,
                                      texts_request(TEXTS[:2], request_id="rest"),
                                      model_name=SEQ)
        finally:
            await client.close()

    response = asyncio.run(infer())
    assert response.id == "rest" and response.model_name == SEQ
    want = solo(served.server, SEQ, [{"data": text} for text in TEXTS[:2]])
    assert_same([json.loads(datum) for datum in response.outputs[0].data], want)


def test_the_sdks_grpc_client_is_not_answered_but_its_messages_are(served):
    """KServe's gRPC client calls "inference.GRPCInferenceService", which TorchServe does not
    serve (it names the same service after its Java package): UNIMPLEMENTED. The SDK's request
    message sent to TorchServe's name is answered by the handler as a v2 REST request is."""
    request = texts_request(TEXTS[:2], request_id="grpc")

    async def sdk_client() -> None:
        client = InferenceGRPCClient(served.grpc_address, timeout=60, retries=2)
        try:
            await client.infer(request)
        finally:
            await client.close()

    with pytest.raises(grpc.RpcError) as refused:
        asyncio.run(sdk_client())
    assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED

    with grpc.insecure_channel(served.grpc_address) as channel:
        model_infer = channel.unary_unary(
            TORCHSERVE_OIP, request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        answered = model_infer(request.to_grpc(), timeout=120)
    response = InferResponse.from_grpc(answered)
    assert response.id == "grpc" and response.outputs[0].name == "predictions"
    # TorchServe's gRPC side writes each element of the handler's JSON output as JSON again:
    # a BYTES datum (our answer as a JSON string) arrives quoted, so it is decoded twice.
    got = [json.loads(json.loads(datum)) for datum in response.outputs[0].data]
    assert_same(got, solo(served.server, SEQ, [{"data": text} for text in TEXTS[:2]]))
