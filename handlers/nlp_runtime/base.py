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

Each batch reports its size, its requests answered with an error (by status) and, through
``forward_figures``, what its prediction forwards did, to TorchServe's metrics API
(nlp_runtime.batch_metrics); a metric that cannot be recorded never fails a request.
"""

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ts.metrics.dimension import Dimension
from ts.metrics.metric_type_enum import MetricTypes
from ts.torch_handler.base_handler import BaseHandler

from nlp_runtime.batch_metrics import UNIT, ForwardFigures, MetricsRecorder, Sample
from nlp_runtime.errors import RequestError
from nlp_runtime.limits import InputLimits
from nlp_runtime.wire.kserve import (
    JSON_CONTENT_TYPE,
    Envelope,
    instance_error,
    open_envelope,
    protocol_body,
    seal,
)

logger = logging.getLogger(__name__)
# What a handler that gives no explanations points the caller to: the Makefile's default
# archive that explains (sentiment, by integrated gradients or SHAP).
EXPLAINING_ARCHIVE = "BERTSeqClassification"
MAX_PHRASE = 512  # characters of a reason phrase
# (prediction or its error, explanation or its error or None) for one request
Answer = tuple[Any, Any]


class BatchHandler(BaseHandler):
    """Decode → preprocess → forward → postprocess → explain → encode, per-request errors."""

    # Until ``initialize`` connects it to the worker's metrics: records nothing.
    batch_metrics = MetricsRecorder("", None)

    def initialize(self, context: Any) -> None:
        self.model_dir = Path(context.system_properties["model_dir"])
        self.limits = InputLimits.from_model_config(getattr(context, "model_yaml_config", None))
        self.batch_metrics = metrics_recorder(context)
        self.load(self.model_dir, context)
        self.initialized = True
        logger.info("%s loaded from %s", type(self).__name__, self.model_dir)

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[Any]:
        # Per request: its encoded response, or the RequestError it is answered with.
        outcomes: list[Any] = [None] * len(data)
        envelopes: dict[int, Envelope | None] = {}
        accepted: list[tuple[int, Any]] = []  # (request index, item): a request may have several
        for idx, request in enumerate(data):
            try:
                envelope, items = self._decode(request, context, idx)
            except RequestError as error:
                outcomes[idx] = error
                continue
            except Exception as error:  # whatever the decoding failure, it is this request's
                outcomes[idx] = undecodable(error)
                continue
            envelopes[idx] = envelope
            accepted += [(idx, item) for item in items]
        logger.info("batch of %d requests, %d rejected", len(data), len(data) - len(envelopes))
        if accepted:
            answers = self._answer_isolated(accepted)
            encoded: dict[int, list[Any]] = {idx: [] for idx in envelopes}
            for (idx, item), answer in zip(accepted, answers, strict=True):
                encoded[idx].append(self._encode_one(idx, item, answer))
            for idx, envelope in envelopes.items():
                outcomes[idx] = self._seal(envelope, encoded[idx], context, idx)
        self.batch_metrics.batch(len(data))
        self.batch_metrics.refused(
            [outcome.status for outcome in outcomes if isinstance(outcome, RequestError)]
        )
        return [_respond(context, idx, outcome) for idx, outcome in enumerate(outcomes)]

    def _decode(
        self, request: dict[str, Any], context: Any, idx: int
    ) -> tuple[Envelope | None, list[Any]]:
        """The request's KServe envelope (None for this project's own shapes) and its items."""
        for value in request.values():
            self.limits.check(value)
        content_type = request_content_type(context, idx)
        explained = explanation_endpoint(context, idx)
        envelope = open_envelope(protocol_body(request), self.limits.max_instances)
        if envelope is None:
            return None, [self._decode_item(request, content_type, explained)]
        items = []
        for index, body in enumerate(envelope.bodies):
            try:
                items.append(self._decode_item({"body": body}, JSON_CONTENT_TYPE, explained))
            except RequestError as error:
                raise instance_error(envelope, index, error) from None
            except Exception as error:
                raise instance_error(envelope, index, undecodable(error)) from None
        return envelope, items

    def _decode_item(self, request: dict[str, Any], content_type: str, explained: bool) -> Any:
        item = self.decode_request(request, content_type)
        return self.mark_for_explanation(item) if explained else item

    def _seal(self, envelope: Envelope | None, encoded: list[Any], context: Any, idx: int) -> Any:
        """The request's response: its one item's, or the protocol's over all its items."""
        if envelope is None:
            [outcome] = encoded
            return outcome
        for index, outcome in enumerate(encoded):
            if isinstance(outcome, RequestError):
                return instance_error(envelope, index, outcome)
        name, version = model_identity(context)
        return seal(envelope, encoded, explanation_endpoint(context, idx), name, version)

    def answer(self, items: Sequence[Any]) -> list[Answer]:
        """The batched steps for decoded items: one (prediction, explanation) per item."""
        batch = self.preprocess(items)
        outputs = self.forward(batch)
        self.batch_metrics.forwards(lambda: self.forward_figures(batch))
        predictions = self.postprocess(items, batch, outputs)
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

    def _encode_one(self, idx: int, item: Any, answer: Answer) -> Any:
        """The request's response, or the RequestError it is answered with."""
        prediction, explanation = answer
        for outcome in answer:
            if isinstance(outcome, RequestError):
                return outcome
        try:
            encoded = self.encode_response(item, prediction)
        except RequestError as error:
            return error
        except Exception as error:  # a fault of the encoder on this request alone
            logger.exception("request %d could not be encoded", idx)
            return internal_error(error)
        if explanation is not None:
            encoded = {"prediction": encoded, "explanation": explanation}
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

    def forward_figures(self, batch: Any) -> ForwardFigures | None:
        """What ``forward`` did with ``batch`` (forwards, real and padded tokens, windows per
        request), for the batch metrics; None for handlers that cannot tell."""
        return None

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


def _respond(context: Any, idx: int, outcome: Any) -> Any:
    if isinstance(outcome, RequestError):
        return _reject(context, idx, outcome)
    context.set_response_content_type(idx, "application/json")
    return outcome


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


def model_identity(context: Any) -> tuple[str, str]:
    """The model's name and version (its archive's manifest), for protocol responses."""
    manifest = getattr(context, "manifest", None) or {}
    model = manifest.get("model") if isinstance(manifest, dict) else None
    version = (model or {}).get("modelVersion") or "1.0"
    return str(getattr(context, "model_name", None) or ""), str(version)


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


def metrics_recorder(context: Any) -> MetricsRecorder:
    """Batch metrics through the worker's TorchServe metrics cache (``context.metrics``); a
    context without one (some in-process uses) records nothing."""
    cache = getattr(context, "metrics", None)
    model = str(getattr(context, "model_name", None) or "")
    if cache is None:
        return MetricsRecorder(model, None)

    def emit(sample: Sample) -> None:
        # Dimensions passed whole, in the order the metrics config declares them: TorchServe
        # adds ModelName and Level only when they are missing, at the end.
        cache.add_metric(
            sample.spec.name, sample.value, UNIT,
            dimensions=[Dimension(name, value) for name, value in sample.dimensions],
            metric_type=MetricTypes(sample.spec.kind.value),
        )

    return MetricsRecorder(model, emit)
