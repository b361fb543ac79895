"""KServe's two REST protocols, recognised from the body and answered in their own shapes.

TorchServe routes ``/v1/models/<m>:predict|:explain`` and ``/v2/models/<m>/infer|explain`` to
the handler with the raw body and returns the handler's output unwrapped, so the handler opens
the protocol's envelope and seals its answer. One request may carry several texts; each
becomes one item of the batch, beside the items of other requests, and the request is answered
once all of its items are:

* v1: ``{"instances": [i1, i2, ...]}`` → ``{"predictions": [p1, p2, ...]}`` (``:explain`` →
  ``{"explanations": [...]}``). Each instance is a body in a shape ``/predictions`` accepts: a
  string is the text, an object is a JSON body (``{"data": ...}``, ``{"question", "context"}``
  with ``parameters`` ...).
* v2 (Open Inference Protocol): ``{"id", "parameters", "inputs": [{"name", "shape",
  "datatype": "BYTES", "data": [...]}]}``. One input of N strings is N texts; inputs named
  ``question`` and ``context`` are N question-answering pairs; an input whose ``parameters``
  say ``"content_type": "application/json"`` holds N JSON bodies as ``/predictions`` takes
  them. Request-level ``parameters`` are the task's parameters for every text. The answer is
  ``{"id", "model_name", "model_version", "outputs": [{"name": "predictions", "shape": [N],
  "datatype": "BYTES", "data": [...]}]}``: each datum is one text's ``/predictions`` answer as
  a JSON string (``explanations`` for ``/explain``).

A request with a bad instance is refused whole, with the protocol's error shape
``{"error": "..."}`` naming the instance; its batch-mates are not affected.
"""

import json
import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from nlp_runtime.errors import RequestError

JSON_CONTENT_TYPE = "application/json"
V2_RESERVED_PARAMETERS = ("content_type",)  # what KServe's clients may set on an input
QA_INPUTS = ("question", "context")


class Protocol(Enum):
    KSERVE_V1 = "kserve_v1"
    OPEN_INFERENCE = "open_inference"  # KServe v2


@dataclass(frozen=True)
class Envelope:
    """A protocol request: its instances as bodies ``/predictions`` accepts."""

    protocol: Protocol
    bodies: tuple[Any, ...]
    request_id: str | None = None


class ProtocolError(RequestError):
    """A request of a KServe protocol refused whole; answered as ``{"error": message}``."""

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message}


def open_envelope(body: Any, max_instances: int) -> Envelope | None:
    """The envelope of a KServe v1 or v2 body; None for the project's own request shapes.
    Raises ProtocolError when a protocol body is malformed or over ``max_instances``."""
    if not isinstance(body, dict):
        return None
    if "instances" in body:
        envelope = _open_v1(body)
    elif isinstance(body.get("inputs"), list):
        envelope = _open_v2(body)
    else:
        return None
    if len(envelope.bodies) > max_instances:
        raise ProtocolError(
            f"request carries {len(envelope.bodies)} instances, more than max_instances "
            f"{max_instances}; split it, or raise the limit in the archive's model-config.yaml, "
            "handler: limits:", status=413,
        )
    return envelope


def protocol_body(request: dict[str, Any]) -> Any:
    """The body as JSON if it can be a protocol request (JSON TorchServe parsed, or UTF-8 that
    parses as a JSON object, whatever its content type), else None."""
    body = next((request[k] for k in ("data", "body") if request.get(k) is not None), None)
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(body, str) or not body.lstrip().startswith("{"):
        return None
    try:
        return json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        return None


def instance_error(envelope: Envelope, index: int, error: RequestError) -> ProtocolError:
    """The whole request's error for its instance ``index`` failing with ``error``."""
    where = f"instance {index}" if len(envelope.bodies) > 1 else "the instance"
    return ProtocolError(f"{where}: {error.message}", status=error.status)


def seal(
    envelope: Envelope, answers: list[Any], explained: bool, model_name: str, version: str
) -> dict[str, Any]:
    """The protocol's response for one answer per instance."""
    key = "explanations" if explained else "predictions"
    if envelope.protocol is Protocol.KSERVE_V1:
        return {key: answers}
    response: dict[str, Any] = {"model_name": model_name, "model_version": version}
    if envelope.request_id is not None:
        response = {"id": envelope.request_id, **response}
    response["outputs"] = [{
        "name": key, "shape": [len(answers)], "datatype": "BYTES",
        "data": [json.dumps(answer, ensure_ascii=False) for answer in answers],
    }]
    return response


def _open_v1(body: dict[str, Any]) -> Envelope:
    _known_keys(body, ("instances",), "a v1 request")
    instances = body["instances"]
    if not isinstance(instances, list) or not instances:
        raise ProtocolError(
            f"'instances' must be a non-empty list, got {_describe(instances)}; send "
            '{"instances": ["a text", {"data": "another"}]}'
        )
    return Envelope(Protocol.KSERVE_V1, tuple(instances))


def _open_v2(body: dict[str, Any]) -> Envelope:
    # model_name and model_version: KServe's InferRequest.to_rest() sends them; the URL rules.
    _known_keys(body, ("id", "model_name", "model_version", "parameters", "inputs", "outputs"),
                "an inference request")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError(f"'id' must be a string, got {_describe(request_id)}")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ProtocolError(f"'parameters' must be an object, got {_describe(parameters)}")
    inputs = [_tensor(tensor, index) for index, tensor in enumerate(body["inputs"])]
    if not inputs:
        raise ProtocolError("'inputs' is empty; send one BYTES input holding the texts")
    bodies = _pairs(inputs) if {name for name, _, _ in inputs} == set(QA_INPUTS) else None
    if bodies is None:
        if len(inputs) != 1:
            raise ProtocolError(
                f"got {len(inputs)} inputs {[name for name, _, _ in inputs]}; send one BYTES "
                "input of texts, or two named 'question' and 'context'"
            )
        _, data, as_json = inputs[0]
        bodies = [_json_datum(datum, i) if as_json else {"data": datum}
                  for i, datum in enumerate(data)]
    if not bodies:
        raise ProtocolError("the input holds no data; send at least one text")
    if parameters:
        bodies = [_with_parameters(each, parameters) for each in bodies]
    return Envelope(Protocol.OPEN_INFERENCE, tuple(bodies), request_id)


def _tensor(tensor: Any, index: int) -> tuple[str, list[str], bool]:
    """(name, flat data, whether each datum is a JSON body) of one v2 input tensor."""
    if not isinstance(tensor, dict):
        raise ProtocolError(f"input {index} must be an object, got {_describe(tensor)}")
    _known_keys(tensor, ("name", "shape", "datatype", "parameters", "data"), f"input {index}")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise ProtocolError(f"input {index} needs a string 'name', got {_describe(name)}")
    if tensor.get("datatype") != "BYTES":
        raise ProtocolError(
            f"input {name!r} has datatype {tensor.get('datatype')!r}; texts are 'BYTES'"
        )
    data = _flatten(tensor.get("data"))
    shape = tensor.get("shape")
    if (not isinstance(shape, list) or not all(_is_count(n) for n in shape)
            or math.prod(shape) != len(data)):
        raise ProtocolError(
            f"input {name!r} has shape {shape!r} for {len(data)} data; send [{len(data)}]"
        )
    for position, datum in enumerate(data):
        if not isinstance(datum, str):
            raise ProtocolError(
                f"input {name!r} datum {position} must be a string, got {_describe(datum)}"
            )
    options = tensor.get("parameters") or {}
    if not isinstance(options, dict):
        raise ProtocolError(f"input {name!r} 'parameters' must be an object")
    _known_keys(options, V2_RESERVED_PARAMETERS, f"input {name!r} parameters")
    return name, data, options.get("content_type") == JSON_CONTENT_TYPE


def _pairs(inputs: list[tuple[str, list[str], bool]]) -> list[dict[str, str]]:
    named = {name: data for name, data, _ in inputs}
    questions, contexts = named["question"], named["context"]
    if len(questions) != len(contexts):
        raise ProtocolError(
            f"'question' has {len(questions)} data and 'context' {len(contexts)}; send one "
            "context per question"
        )
    return [{"question": q, "context": c} for q, c in zip(questions, contexts, strict=True)]


def _json_datum(datum: str, index: int) -> Any:
    try:
        return json.loads(datum)
    except json.JSONDecodeError as error:
        raise ProtocolError(f"datum {index} is not valid JSON ({error})") from None


def _with_parameters(body: Any, parameters: dict[str, Any]) -> Any:
    if not isinstance(body, dict):
        return body  # refused by the task's own decoder, naming what it expects
    if "parameters" in body:
        raise ProtocolError(
            "parameters given both for the request and inside a JSON datum; give them once"
        )
    return {**body, "parameters": parameters}


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise ProtocolError(f"'data' must be a list, got {_describe(data)}")
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:  # iterative: nesting is bounded by the JSON depth limit, but no recursion
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            stack.pop()
    return flat


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _known_keys(mapping: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(mapping) - set(known), key=str)
    if unknown:
        raise ProtocolError(f"unknown key {unknown[0]!r} in {where}; known: {list(known)}")


def _describe(value: Any) -> str:
    return "null" if value is None else type(value).__name__
