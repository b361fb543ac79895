"""Wire format: turn one TorchServe request into text (and parameters), or a RequestError.

Accepted bodies: raw bytes (``curl -T file`` / ``--data-binary``), ``text/plain``, JSON
``{"data": "..."}`` / ``{"inputs": "...", "parameters": {...}}``, either optionally with
``"explain"`` (wire.explain), or a form whose field ``data`` holds the text
(``curl -d 'data=I love it'``).
"""

import json
from dataclasses import dataclass, field
from typing import Any

from nlp_runtime.errors import RequestError
from nlp_runtime.wire.explain import ExplainOptions, parse_explain

FORM_TYPE = "application/x-www-form-urlencoded"
NON_TEXT_TYPES = ("image/", "audio/", "video/", "application/pdf", "application/zip")
TEXT_KEYS = ("data", "inputs", "text")


@dataclass(frozen=True)
class TextRequest:
    text: str
    parameters: dict[str, Any] = field(default_factory=dict)
    explain: ExplainOptions | None = None


def raw_body(request: dict[str, Any]) -> Any:
    """The request payload: TorchServe names it 'data' or 'body' depending on the client."""
    for key in ("data", "body"):
        if request.get(key) is not None:
            return request[key]
    raise RequestError("request has no body; send the text as the body or as JSON {\"data\": ...}")


def payload(request: dict[str, Any], content_type: str) -> Any:
    """The body, or for a form the field named ``data``.

    TorchServe splits form bodies into fields and drops valueless ones, so a bare
    ``curl -d 'some text'`` arrives empty or mangled (the text became a field's name): without
    a ``data`` field the request is refused rather than guessed at."""
    if content_type != FORM_TYPE:
        return raw_body(request)
    value = request.get("data")
    if value is None or value in ("", b""):
        raise RequestError(
            f"body was sent as a form ({FORM_TYPE}, what `curl -d` sends by default) without "
            "a field named data, and TorchServe takes forms apart; send the text as "
            "-d 'data=...', or send it with -H 'Content-Type: text/plain' (or application/json), "
            "or upload a file with curl -T"
        )
    return value


def decode_body(request: dict[str, Any], content_type: str) -> Any:
    """Body as str, or as parsed JSON (dict/list); bytes that are not UTF-8 text are refused."""
    body = payload(request, content_type)
    if isinstance(body, (dict, list)):
        return body
    if content_type.startswith(NON_TEXT_TYPES):
        raise RequestError(f"body has content type {content_type!r}; send UTF-8 text or JSON")
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as error:
            raise RequestError(
                f"body is not valid UTF-8 (byte {error.start} of {len(body)}); "
                "send UTF-8 text or JSON"
            ) from None
        if "\x00" in body:
            raise RequestError("body contains NUL bytes, so it is not text; send UTF-8 text")
        if content_type == "application/json":
            try:
                return json.loads(body)
            except json.JSONDecodeError as error:
                raise RequestError(f"body is not valid JSON: {error}") from None
    if not isinstance(body, str):
        raise RequestError(f"unsupported body of type {type(body).__name__}; send text or JSON")
    return body


def decode_text_request(
    request: dict[str, Any], content_type: str, parameters: tuple[str, ...] = ()
) -> TextRequest:
    """The text, its ``parameters`` (only those named in ``parameters`` are accepted) and its
    explanation options. Any other key of a JSON body is a 400 naming it."""
    body = decode_body(request, content_type)
    if isinstance(body, str):
        return TextRequest(require_text(body, "body"))
    if not isinstance(body, dict):
        raise RequestError(f"JSON body must be an object, got {type(body).__name__}")
    keys = [k for k in TEXT_KEYS if k in body]
    if not keys:
        raise RequestError(f"JSON body needs one of the keys {list(TEXT_KEYS)}; got {sorted(body)}")
    if len(keys) > 1:
        raise RequestError(f"JSON body has both {keys[0]!r} and {keys[1]!r}; send the text once")
    check_keys(body, (keys[0], "parameters", "explain"), "JSON body")
    given = body.get("parameters", {})
    if not isinstance(given, dict):
        raise RequestError(f"'parameters' must be an object, got {type(given).__name__}")
    check_parameters(given, parameters)
    explain = parse_explain(body.get("explain"))
    return TextRequest(require_text(body[keys[0]], keys[0]), dict(given), explain)


def check_parameters(given: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(given) - set(known), key=str)
    if unknown and not known:
        raise RequestError(f"unknown parameter {unknown[0]!r}; this model takes no parameters")
    if unknown:
        raise RequestError(f"unknown parameter {unknown[0]!r}; known: {list(known)}")


def check_keys(mapping: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(mapping) - set(known), key=str)
    if unknown:
        raise RequestError(f"unknown key {unknown[0]!r} in {where}; known: {list(known)}")


def require_text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise RequestError(f"'{name}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise RequestError(f"'{name}' is empty; send a non-empty text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:  # JSON can carry a lone \ud800 escape; UTF-8 cannot
        raise RequestError(
            f"'{name}' holds an unpaired surrogate ({value[error.start]!r} at character "
            f"{error.start}), which is not text; escape non-BMP characters as a surrogate "
            "pair or send them as UTF-8"
        ) from None
    return value
