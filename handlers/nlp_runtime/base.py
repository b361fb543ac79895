"""The thin base every handler of this project builds on.

It owns TorchServe's ``handle`` orchestration: decode each request, run one batched
``predict`` over the requests that decoded, encode each result. A request that fails to
decode (or whose prediction fails on its own) gets a JSON error with a 4xx/5xx status for
that request alone; the rest of the batch is answered normally.

Subclasses implement ``load``, ``decode_request``, ``predict`` and ``encode_response``; those
that explain also ``mark_for_explanation`` and ``explain_batch`` (not ``explain``: TorchServe's
BaseHandler uses that name for a flag). An explained request answers
``{"prediction": <its usual response>, "explanation": ...}``.
"""

import logging
from pathlib import Path
from typing import Any

from ts.torch_handler.base_handler import BaseHandler

from nlp_runtime.errors import RequestError

logger = logging.getLogger(__name__)
# What a handler that gives no explanations points the caller to: the Makefile's default
# archive that explains (sentiment, by integrated gradients or SHAP).
EXPLAINING_ARCHIVE = "BERTSeqClassification"


class BatchHandler(BaseHandler):
    """Decode → one batched predict → encode, with per-request errors."""

    def initialize(self, context: Any) -> None:
        self.model_dir = Path(context.system_properties["model_dir"])
        self.load(self.model_dir, context)
        self.initialized = True
        logger.info("%s loaded from %s", type(self).__name__, self.model_dir)

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[Any]:
        results: list[Any] = [None] * len(data)
        accepted: list[tuple[int, Any]] = []
        for idx, request in enumerate(data):
            try:
                content_type = request_content_type(context, idx)
                item = self.decode_request(request, content_type)
                if explanation_endpoint(context, idx):
                    item = self.mark_for_explanation(item)
                accepted.append((idx, item))
            except RequestError as error:
                results[idx] = _reject(context, idx, error)
        logger.info("batch of %d requests, %d rejected", len(data), len(data) - len(accepted))
        if accepted:
            items = [item for _, item in accepted]
            outputs = self.predict(items)
            explanations = self.explain_batch(items, outputs)
            for (idx, _), output, explanation in zip(accepted, outputs, explanations, strict=True):
                results[idx] = self._encode_one(context, idx, output, explanation)
        return results

    def _encode_one(self, context: Any, idx: int, output: Any, explanation: Any) -> Any:
        for outcome in (output, explanation):
            if isinstance(outcome, RequestError):
                return _reject(context, idx, outcome)
        try:
            encoded = self.encode_response(output)
        except RequestError as error:
            return _reject(context, idx, error)
        if explanation is not None:
            encoded = {"prediction": encoded, "explanation": explanation}
        context.set_response_content_type(idx, "application/json")
        return encoded

    def load(self, model_dir: Path, context: Any) -> None:
        raise NotImplementedError

    def decode_request(self, request: dict[str, Any], content_type: str) -> Any:
        """Turn one raw TorchServe request into the handler's input; raise RequestError."""
        raise NotImplementedError

    def predict(self, inputs: list[Any]) -> list[Any]:
        """One batched forward. An item may be a RequestError for that input alone."""
        raise NotImplementedError

    def encode_response(self, output: Any) -> Any:
        """Turn one prediction into a JSON-serialisable response."""
        return output

    def mark_for_explanation(self, item: Any) -> Any:
        """``item`` (decoded) as asked to be explained, by /explanations (or by its body, for
        handlers whose wire format has ``explain``); handlers that explain override this, the
        others refuse the request here, naming an archive that explains."""
        raise RequestError(
            f"{type(self).__name__} gives no explanations: send the request to /predictions "
            f"without 'explain', or ask /explanations/{EXPLAINING_ARCHIVE}, which explains "
            "sentiment by integrated gradients or SHAP"
        )

    def explain_batch(self, items: list[Any], outputs: list[Any]) -> list[Any]:
        """Per item: None (no explanation asked), an explanation, or a RequestError."""
        return [None] * len(items)


def _reject(context: Any, idx: int, error: RequestError) -> dict[str, Any]:
    logger.info("request %d rejected (%d): %s", idx, error.status, error.message)
    context.set_response_status(error.status, error.message, idx)
    context.set_response_content_type(idx, "application/json")
    return error.to_json()


def explanation_endpoint(context: Any, idx: int) -> bool:
    """TorchServe marks each request sent to /explanations/<model> with this header."""
    return context.get_request_header(idx, "explain") == "True"


def request_content_type(context: Any, idx: int) -> str:
    """The request's Content-Type header, lower-cased without parameters; '' if absent."""
    headers = context.get_all_request_header(idx) or {}
    for key, value in headers.items():
        if key.lower() == "content-type" and isinstance(value, str):
            return value.split(";")[0].strip().lower()
    return ""
