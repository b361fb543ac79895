"""The thin base every handler of this project builds on.

It owns TorchServe's ``handle`` orchestration, in the steps transformers' pipelines use:
decode each request → ``preprocess`` the batch (tokenize, windows) → one batched ``forward``
→ ``postprocess`` into one prediction per request → explanations for the requests that asked
(handed what ``preprocess`` produced) → ``encode_response`` of each request's prediction, which
sees its request.

No request can fail its batch-mates. A request over an input limit (nlp_runtime.limits) gets
a 413 before it is decoded. A request that cannot be decoded, whatever the exception,
gets a JSON error for itself alone. If a batched step raises, each request is answered on its
own, so only the request that makes the model code fail gets a 500 (with the exception named);
the rest of the batch is answered normally. A step reports an expected per-request problem by
returning a RequestError in that request's place.

Subclasses implement ``load``, ``decode_request``, ``preprocess``, ``forward`` and
``postprocess``; those that explain also ``mark_for_explanation`` and ``explain_batch`` (not
``explain``: TorchServe's BaseHandler uses that name for a flag). An explained request answers
``{"prediction": <its usual response>, "explanation": ...}``.
"""

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ts.torch_handler.base_handler import BaseHandler

from nlp_runtime.errors import RequestError
from nlp_runtime.limits import InputLimits

logger = logging.getLogger(__name__)
# What a handler that gives no explanations points the caller to: the Makefile's default
# archive that explains (sentiment, by integrated gradients or SHAP).
EXPLAINING_ARCHIVE = "BERTSeqClassification"
MAX_PHRASE = 512  # characters of a reason phrase
# (prediction or its error, explanation or its error or None) for one request
Answer = tuple[Any, Any]


class BatchHandler(BaseHandler):
    """Decode → preprocess → forward → postprocess → explain → encode, per-request errors."""

    def initialize(self, context: Any) -> None:
        self.model_dir = Path(context.system_properties["model_dir"])
        self.limits = InputLimits.from_model_config(getattr(context, "model_yaml_config", None))
        self.load(self.model_dir, context)
        self.initialized = True
        logger.info("%s loaded from %s", type(self).__name__, self.model_dir)

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[Any]:
        results: list[Any] = [None] * len(data)
        accepted: list[tuple[int, Any]] = []
        for idx, request in enumerate(data):
            try:
                accepted.append((idx, self._decode(request, context, idx)))
            except RequestError as error:
                results[idx] = _reject(context, idx, error)
            except Exception as error:  # whatever the decoding failure, it is this request's
                results[idx] = _reject(context, idx, undecodable(error))
        logger.info("batch of %d requests, %d rejected", len(data), len(data) - len(accepted))
        if accepted:
            answers = self._answer_isolated(accepted)
            for (idx, item), answer in zip(accepted, answers, strict=True):
                results[idx] = self._encode_one(context, idx, item, answer)
        return results

    def _decode(self, request: dict[str, Any], context: Any, idx: int) -> Any:
        for value in request.values():
            self.limits.check(value)
        item = self.decode_request(request, request_content_type(context, idx))
        return self.mark_for_explanation(item) if explanation_endpoint(context, idx) else item

    def answer(self, items: Sequence[Any]) -> list[Answer]:
        """The batched steps for decoded items: one (prediction, explanation) per item."""
        batch = self.preprocess(items)
        predictions = self.postprocess(items, batch, self.forward(batch))
        explanations = self.explain_batch(items, batch, predictions)
        return list(zip(predictions, explanations, strict=True))

    def _answer_isolated(self, accepted: list[tuple[int, Any]]) -> list[Answer]:
        try:
            return self.answer([item for _, item in accepted])
        except Exception as error:  # find whose request it was; answer the rest
            if len(accepted) == 1:
                [(idx, _)] = accepted
                logger.exception("request %d failed in the model code", idx)
                return [(internal_error(error), None)]
            logger.warning(
                "a batch of %d failed (%s: %s); answering its requests one by one",
                len(accepted), type(error).__name__, error,
            )
            return [self._answer_isolated([one])[0] for one in accepted]

    def _encode_one(self, context: Any, idx: int, item: Any, answer: Answer) -> Any:
        prediction, explanation = answer
        for outcome in answer:
            if isinstance(outcome, RequestError):
                return _reject(context, idx, outcome)
        try:
            encoded = self.encode_response(item, prediction)
        except RequestError as error:
            return _reject(context, idx, error)
        except Exception as error:  # a fault of the encoder on this request alone
            logger.exception("request %d could not be encoded", idx)
            return _reject(context, idx, internal_error(error))
        if explanation is not None:
            encoded = {"prediction": encoded, "explanation": explanation}
        context.set_response_content_type(idx, "application/json")
        return encoded

    def load(self, model_dir: Path, context: Any) -> None:
        raise NotImplementedError

    def decode_request(self, request: dict[str, Any], content_type: str) -> Any:
        """Turn one raw TorchServe request into the handler's input; raise RequestError."""
        raise NotImplementedError

    def preprocess(self, items: Sequence[Any]) -> Any:
        """The batch's model inputs (tokens, windows), and what later steps need of them."""
        return items

    def forward(self, batch: Any) -> Any:
        """One forward of the model over the preprocessed batch."""
        raise NotImplementedError

    def postprocess(self, items: Sequence[Any], batch: Any, outputs: Any) -> list[Any]:
        """One prediction per item, or a RequestError for that item alone."""
        return list(outputs)

    def encode_response(self, item: Any, prediction: Any) -> Any:
        """Turn one request's prediction into a JSON-serialisable response."""
        return prediction

    def mark_for_explanation(self, item: Any) -> Any:
        """``item`` (decoded) as asked to be explained, by /explanations (or by its body, for
        handlers whose wire format has ``explain``); handlers that explain override this, the
        others refuse the request here, naming an archive that explains."""
        raise RequestError(
            f"{type(self).__name__} gives no explanations: send the request to /predictions "
            f"without 'explain', or ask /explanations/{EXPLAINING_ARCHIVE}, which explains "
            "sentiment by integrated gradients or SHAP"
        )

    def explain_batch(self, items: Sequence[Any], batch: Any, predictions: list[Any]) -> list[Any]:
        """Per item: None (no explanation asked), an explanation, or a RequestError."""
        return [None] * len(items)


def undecodable(error: Exception) -> RequestError:
    """Any failure while decoding a request (deep JSON, bad text, ...) is the request's."""
    return RequestError(f"request could not be decoded: {type(error).__name__}: {error}")


def internal_error(error: Exception) -> RequestError:
    """A failure of the model code on this request alone: our fault, not the client's."""
    return RequestError(
        f"the handler failed on this request: {type(error).__name__}: {error}", status=500
    )


def _reject(context: Any, idx: int, error: RequestError) -> dict[str, Any]:
    logger.info("request %d rejected (%d): %s", idx, error.status, error.message)
    context.set_response_status(error.status, status_phrase(error.message), idx)
    context.set_response_content_type(idx, "application/json")
    return error.to_json()


def status_phrase(message: str) -> str:
    """The HTTP reason phrase for a message (the JSON body keeps it whole): ASCII, because
    TorchServe 0.12's worker frames the phrase's length in characters and its frontend reads
    bytes, so one non-ASCII character kills the worker and its whole batch; and short, because
    clients refuse status lines over 64 KiB."""
    phrase = message.encode("ascii", "backslashreplace").decode("ascii")
    phrase = " ".join(phrase.split())  # no CR/LF in a status line
    return phrase if len(phrase) <= MAX_PHRASE else phrase[: MAX_PHRASE - 3] + "..."


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
