"""The frontend's side of TorchServe's worker protocol, for requests that never touch a socket.

``encode_predict_message`` writes a batch the way the Java frontend does (request headers,
a ``body`` parameter whose content type is the MIME type without parameters), so that
``ts.protocol.otf_message_handler.retrieve_msg`` decodes it into exactly the request dicts a
served handler sees. ``decode_predict_response`` reads the worker's answer back, per request.
"""

import io
import json
import struct
from dataclasses import dataclass, field
from typing import Any

PREDICT_COMMAND = b"I"
END_OF_LIST = -1
# The frontend parses these into named form fields instead of passing one raw body.
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class LocalRequest:
    """One HTTP request. ``body``: bytes and str are sent as they are; anything else is sent
    as JSON (content type ``application/json`` unless given). ``name`` is the key the handler
    finds the body under: ``body`` for a plain POST, ``data`` mimics a form field ``-F data=``.
    """

    body: Any
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    name: str = "body"

    def payload(self) -> bytes:
        if isinstance(self.body, (bytes, bytearray)):
            return bytes(self.body)
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")

    def effective_content_type(self) -> str | None:
        if self.content_type is None and not isinstance(self.body, (bytes, bytearray, str)):
            return "application/json"
        return self.content_type


@dataclass(frozen=True)
class LocalResponse:
    """One HTTP response: status, reason phrase, raw body and the body parsed as JSON
    (``None`` when it is not JSON)."""

    status: int
    phrase: str
    body: bytes
    payload: Any
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class MemorySocket(io.BytesIO):
    """Stands in for the worker's socket: ``recv`` reads from a buffer."""

    def recv(self, length: int) -> bytes:
        return self.read(length)


def mime_type(content_type: str) -> str:
    """What Netty's ``HttpUtil.getMimeType`` gives the worker: the type without parameters."""
    return content_type.split(";", 1)[0].strip()


def encode_predict_message(requests: list[LocalRequest], request_ids: list[str]) -> bytes:
    message = bytearray(PREDICT_COMMAND)
    for request, request_id in zip(requests, request_ids, strict=True):
        content_type = request.effective_content_type()
        if content_type is not None and mime_type(content_type).lower() in FORM_TYPES:
            raise ValueError(
                f"request {request_id} has content type {content_type!r}: TorchServe splits form "
                "bodies into fields; send a raw body, or set name='data' to mimic a form field"
            )
        headers = dict(request.headers)
        if content_type is not None:
            headers["Content-Type"] = content_type
        _put(message, request_id.encode())
        for key, value in headers.items():
            _put(message, key.encode())
            _put(message, value.encode())
        _put_int(message, END_OF_LIST)
        _put(message, request.name.encode())
        _put(message, mime_type(content_type).encode() if content_type else b"")
        _put(message, request.payload())
        _put_int(message, END_OF_LIST)
    _put_int(message, END_OF_LIST)
    return bytes(message)


def decode_predict_response(message: bytes) -> list[LocalResponse]:
    """Per-request responses; a failed batch gives every request the batch's status."""
    reader = _Reader(message)
    batch_code, batch_message = reader.int(), reader.text()
    responses = []
    while reader.int_peek() != END_OF_LIST:
        reader.text()  # request id: responses come back in request order
        content_type = reader.text()
        status, phrase = reader.int(), reader.text()
        headers = {reader.text(): reader.text() for _ in range(reader.int())}
        body = reader.chunk()
        if batch_code != 200:
            status, phrase = batch_code, batch_message
        responses.append(
            LocalResponse(status, phrase, body, _json_or_none(body), content_type, headers)
        )
    return responses


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _put_int(message: bytearray, value: int) -> None:
    message += struct.pack("!i", value)


def _put(message: bytearray, value: bytes) -> None:
    _put_int(message, len(value))
    message += value


class _Reader:
    def __init__(self, message: bytes) -> None:
        self.message = message
        self.offset = 0

    def int_peek(self) -> int:
        return struct.unpack_from("!i", self.message, self.offset)[0]

    def int(self) -> int:
        value = self.int_peek()
        self.offset += 4
        return value

    def chunk(self) -> bytes:
        length = self.int()
        value = self.message[self.offset : self.offset + length]
        self.offset += length
        return bytes(value)

    def text(self) -> str:
        return self.chunk().decode("utf-8")
