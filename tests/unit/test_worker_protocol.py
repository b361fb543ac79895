"""Requests encoded as the frontend does must decode, through TorchServe's own reader, into
the shapes a served handler sees; worker answers must decode back per request."""

import pytest
from ts.protocol.otf_message_handler import create_predict_response, retrieve_msg
from ts.service import Service

from torchserve_nlp.serving.worker_protocol import (
    LocalRequest,
    MemorySocket,
    decode_predict_response,
    encode_predict_message,
)


def served_inputs(requests: list[LocalRequest]) -> tuple[list[dict], list]:
    ids = [f"id-{i}" for i in range(len(requests))]
    _, batch = retrieve_msg(MemorySocket(encode_predict_message(requests, ids)))
    headers, inputs, _ = Service.retrieve_data_for_inference(batch)
    return inputs, headers


def test_body_shapes_follow_the_content_type():
    inputs, headers = served_inputs([
        LocalRequest({"data": "hi"}),
        LocalRequest("plain", "text/plain; charset=utf-8"),
        LocalRequest(b"\xc3\x28", None),
        LocalRequest("form field", name="data"),
    ])
    assert inputs[0] == {"body": {"data": "hi"}}
    assert inputs[1] == {"body": "plain"}
    assert inputs[2] == {"body": bytearray(b"\xc3\x28")}
    assert type(inputs[2]["body"]) is bytearray
    assert inputs[3] == {"data": bytearray(b"form field")}
    # The HTTP header keeps its parameters; the body's own content type is the bare MIME type.
    assert headers[1].get_request_properties() == {
        "Content-Type": "text/plain; charset=utf-8",
        "body": {"content-type": "text/plain"},
    }
    assert headers[2].get_request_properties() == {"body": {"content-type": ""}}


def test_form_content_types_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="form.*name='data'"):
        encode_predict_message([LocalRequest("a=1", "application/x-www-form-urlencoded")], ["x"])


class _Context:
    """Just what create_predict_response reads from a context."""

    stopping_criteria = None

    def __init__(self, statuses):
        self.statuses = statuses

    def get_response_headers(self, idx):
        return {"x-idx": str(idx)}

    def get_response_content_type(self, idx):
        return "application/json"

    def get_response_status(self, idx):
        return self.statuses[idx]


def test_per_request_statuses_and_json_payloads_decode():
    message = create_predict_response(
        [{"p": 0.5}, {"code": 400}], {0: "a", 1: "b"}, "Prediction success", 200,
        context=_Context([(200, None), (400, "bad body")]),
    )
    ok, bad = decode_predict_response(bytes(message))
    assert (ok.status, ok.phrase, ok.payload) == (200, "", {"p": 0.5})
    assert (bad.status, bad.phrase, bad.payload) == (400, "bad body", {"code": 400})
    assert bad.headers == {"x-idx": "1"} and bad.content_type == "application/json"


def test_a_failed_batch_fails_every_request_with_its_status():
    message = create_predict_response(None, {0: "a", 1: "b"}, "Prediction failed", 503)
    responses = decode_predict_response(bytes(message))
    assert [(r.status, r.phrase, r.payload) for r in responses] == [
        (503, "Prediction failed", None), (503, "Prediction failed", None)
    ]
