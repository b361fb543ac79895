"""Typed values of a request's ``parameters``: JSON types only, nothing coerced (``"2"`` is not
2, ``"true"`` is not true), so a client learns of its mistake instead of getting a guess."""

from typing import Any

from nlp_runtime.errors import RequestError


def request_int(parameters: dict[str, Any], key: str, default: int, minimum: int = 1) -> int:
    value = parameters.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(
            f"invalid parameter: {key!r} must be a JSON integer, got {value!r} "
            f"({type(value).__name__})"
        )
    if value < minimum:
        raise RequestError(f"invalid parameter: {key!r} must be >= {minimum}, got {value}")
    return value


def request_bool(parameters: dict[str, Any], key: str, default: bool) -> bool:
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise RequestError(
            f"invalid parameter: {key!r} must be true or false, got {value!r} "
            f"({type(value).__name__})"
        )
    return value
