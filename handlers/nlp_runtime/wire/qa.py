"""Wire format of an extractive-QA request: question, context and validated parameters.

Accepted JSON bodies (sent as application/json, or as a raw body such as ``curl -T file``):
``{"question": "...", "context": "..."}`` (the seed's), optionally with ``"parameters"``, and
``{"inputs": {"question": "...", "context": "..."}, "parameters": {...}}`` (the Hugging Face
inference API's; ``"data"`` works as well as ``"inputs"``).
"""

import json
from dataclasses import dataclass
from typing import Any

from nlp_runtime.errors import RequestError
from nlp_runtime.hf.config import TransformerHandlerConfig
from nlp_runtime.postprocess.qa_spans import Answer, AnswerOptions
from nlp_runtime.wire.explain import ExplainOptions, parse_explain
from nlp_runtime.wire.text import check_keys, check_parameters, decode_body, require_text
from nlp_runtime.wire.values import request_bool, request_int

PARAMETERS = ("top_k", "max_answer_len", "handle_impossible_answer", "align_to_words")
MAX_TOP_K = 20
EXAMPLE = '{"question": "...", "context": "..."}'


@dataclass(frozen=True)
class QARequest:
    question: str
    context: str
    options: AnswerOptions
    explain: ExplainOptions | None = None


def decode_qa_request(
    request: dict[str, Any], content_type: str, defaults: TransformerHandlerConfig
) -> QARequest:
    body = _json_object(decode_body(request, content_type))
    payload = body
    for key in ("inputs", "data"):
        if key in body:
            payload = body[key]
            if not isinstance(payload, dict):
                raise RequestError(
                    f"'{key}' must be an object like {EXAMPLE}, got {type(payload).__name__}"
                )
            check_keys(body, (key, "parameters", "explain"), "JSON body")
            check_keys(payload, ("question", "context"), f"'{key}'")
            break
    else:
        check_keys(body, ("question", "context", "parameters", "explain"), "JSON body")
    missing = [key for key in ("question", "context") if key not in payload]
    if missing:
        raise RequestError(
            f"missing {missing[0]!r}: send JSON {EXAMPLE}; got keys {sorted(payload)}"
        )
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise RequestError(f"'parameters' must be an object, got {type(parameters).__name__}")
    return QARequest(
        question=require_text(payload["question"], "question"),
        context=require_text(payload["context"], "context"),
        options=answer_options(parameters, defaults),
        explain=parse_explain(body.get("explain")),
    )


def _json_object(body: Any) -> dict[str, Any]:
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as error:
            raise RequestError(
                f"a question is sent as JSON {EXAMPLE}; the body is not JSON ({error})"
            ) from None
    if not isinstance(body, dict):
        raise RequestError(f"JSON body must be an object like {EXAMPLE}, got {type(body).__name__}")
    return body


def answer_options(parameters: dict[str, Any], defaults: TransformerHandlerConfig) -> AnswerOptions:
    """Per-request decoding options over the archive's defaults; a bad one is a 400."""
    check_parameters(parameters, PARAMETERS)
    top_k = request_int(parameters, "top_k", defaults.top_k)
    max_answer_len = request_int(parameters, "max_answer_len", defaults.max_answer_len)
    impossible = request_bool(
        parameters, "handle_impossible_answer", defaults.handle_impossible_answer
    )
    align = request_bool(parameters, "align_to_words", True)
    if top_k > MAX_TOP_K:
        raise RequestError(f"'top_k' must be at most {MAX_TOP_K}, got {top_k}")
    if max_answer_len > defaults.max_length:
        raise RequestError(
            f"'max_answer_len' must be at most the window length {defaults.max_length}, "
            f"got {max_answer_len}"
        )
    return AnswerOptions(top_k, max_answer_len, impossible, align)


def encode_answers(answers: list[Answer], top_k: int) -> dict[str, Any] | list[dict[str, Any]]:
    """One answer object for ``top_k`` 1 (the pipeline's default shape), else a list."""
    rows = [answer.to_json() for answer in answers]
    return rows[0] if top_k == 1 and rows else rows
