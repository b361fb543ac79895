"""Wire format for predict_single models: decode a request into the type the model's
``predict_single`` parameter is annotated with, and encode its result as JSON text.

    str          -> UTF-8 text (raw body, text/plain, or JSON {"data": "..."})
    bytes        -> the raw body, untouched
    dict / list  -> the body parsed as JSON (an object / an array)
    anything else or no annotation -> text, or parsed JSON when sent as application/json
"""

import enum
import inspect
import json
import logging
import typing
from collections.abc import Callable
from typing import Any

from nlp_runtime.errors import RequestError
from nlp_runtime.wire.text import decode_body, decode_text_request, payload

logger = logging.getLogger(__name__)


class InputKind(enum.Enum):
    TEXT = "text"
    BYTES = "bytes"
    JSON_OBJECT = "JSON object"
    JSON_ARRAY = "JSON array"
    TEXT_OR_JSON = "text or JSON"


def input_kind(method: Callable[..., Any]) -> InputKind:
    """The kind of input a bound ``predict_single(item)`` declares for ``item``."""
    parameters = list(inspect.signature(method).parameters.values())
    if not parameters:
        return InputKind.TEXT_OR_JSON
    try:
        annotation = typing.get_type_hints(method).get(parameters[0].name)
    except (NameError, TypeError) as error:
        # An unresolvable annotation should not stop the model from serving.
        logger.warning("cannot resolve the input annotation of %s (%s)", method, error)
        return InputKind.TEXT_OR_JSON
    base = typing.get_origin(annotation) or annotation
    if base is str:
        return InputKind.TEXT
    if base in (bytes, bytearray):
        return InputKind.BYTES
    if base is dict:
        return InputKind.JSON_OBJECT
    if base is list:
        return InputKind.JSON_ARRAY
    return InputKind.TEXT_OR_JSON


def decode_input(request: dict[str, Any], content_type: str, kind: InputKind) -> Any:
    if kind is InputKind.TEXT:
        return decode_text_request(request, content_type).text
    if kind is InputKind.BYTES:
        return _as_bytes(payload(request, content_type))
    if kind is InputKind.JSON_OBJECT:
        return _json_of_type(payload(request, content_type), dict, kind)
    if kind is InputKind.JSON_ARRAY:
        return _json_of_type(payload(request, content_type), list, kind)
    return decode_body(request, content_type)


def _as_bytes(body: Any) -> bytes:
    # TorchServe has already decoded text/* bodies to str and JSON bodies to objects.
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("utf-8")


def _json_of_type(body: Any, expected: type, kind: InputKind) -> Any:
    if isinstance(body, (bytes, bytearray, str)):
        try:
            body = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RequestError(f"body is not valid JSON ({error}); send a {kind.value}") from None
    if not isinstance(body, expected):
        raise RequestError(f"body is a JSON {type(body).__name__}; this model takes a {kind.value}")
    return body


def encode_result(result: Any, source: str) -> str:
    """``result`` as JSON text; ``source`` names the method that returned it, for errors."""
    try:
        return json.dumps(_plain(result), indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise RequestError(
            f"{source} returned a {type(result).__name__} that is not JSON-serialisable "
            f"({error}); return str, numbers, bools, None, lists or dicts",
            status=500,
        ) from None


def _plain(value: Any) -> Any:
    """Tensors, numpy values and tuples as the JSON-ready Python values they hold."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    return value
