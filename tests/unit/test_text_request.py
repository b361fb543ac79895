import pytest

from nlp_runtime.errors import RequestError
from nlp_runtime.wire.text import TextRequest, decode_text_request


@pytest.mark.parametrize(
    ("request_", "content_type", "expected"),
    [
        ({"body": bytearray("héllo wörld".encode())}, "", TextRequest("héllo wörld")),
        ({"data": "plain text"}, "text/plain", TextRequest("plain text")),
        ({"body": {"data": "from json"}}, "application/json", TextRequest("from json")),
        (
            {"body": {"inputs": "x", "parameters": {"top_k": 2}}},
            "application/json",
            TextRequest("x", {"top_k": 2}),
        ),
        ({"body": bytearray(b'{"text": "raw json"}')}, "application/json", TextRequest("raw json")),
    ],
)
def test_accepted_bodies(request_, content_type, expected):
    assert decode_text_request(request_, content_type, parameters=("top_k",)) == expected


@pytest.mark.parametrize(
    ("request_", "content_type", "message"),
    [
        ({"body": bytearray(b"\xff\xfeabc")}, "", "not valid UTF-8"),
        ({"body": bytearray(b"")}, "", "empty"),
        ({"body": "   \n"}, "text/plain", "empty"),
        ({"body": bytearray(b"GIF89a\x00\x01\x00")}, "", "NUL bytes"),
        ({"body": bytearray(b"\x89PNG\r\n\x1a\n")}, "", "not valid UTF-8"),
        ({"body": bytearray(b"abc")}, "image/png", "content type 'image/png'"),
        ({"body": bytearray(b"{oops")}, "application/json", "not valid JSON"),
        ({"body": {"question": "?"}}, "application/json", "needs one of the keys"),
        ({"body": {"data": 42}}, "application/json", "'data' must be a string, got int"),
        ({"body": {"data": "x", "parameters": []}}, "application/json", "'parameters' must be"),
        ({"body": ["a", "b"]}, "application/json", "must be an object, got list"),
        ({}, "", "no body"),
        ({}, "application/x-www-form-urlencoded", "sent as a form"),
        ({"rock": bytearray(b"")}, "application/x-www-form-urlencoded", "Content-Type: text/plain"),
    ],
)
def test_rejected_bodies_name_the_problem(request_, content_type, message):
    with pytest.raises(RequestError, match=message) as caught:
        decode_text_request(request_, content_type)
    assert caught.value.status == 400
