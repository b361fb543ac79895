"""Serve any torch model class that defines ``predict_single(item)``.

The archive carries the class's file, its constructor arguments (``predict_single.json``)
and safetensors weights. Each request is decoded into the type ``predict_single``'s
parameter is annotated with (see wire.annotated), and answered with its result as JSON.

Errors raised by the model's own code fail that request alone: ``ValueError`` (the
Python convention for "this argument's value is unacceptable") becomes 400 Bad Request;
any other exception, ``TypeError`` included, is treated as a fault of the model code and
becomes 500. The message names the exception and what it said.

It gives no explanations. A request to /explanations is a 400 naming an archive that explains
(``mark_for_explanation``). In a body, ``"explain"`` means something only where the body is
this project's text wire format: for a ``str`` input, ``{"data": "...", "explain": true}`` is
refused the same way rather than answered as if it had not asked. Wherever the body is the
model's own input (a JSON object, array or anything else handed over parsed), its keys are the
model's data, ``"explain"`` included, and are not interpreted here.
"""

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nlp_runtime.base import BatchHandler
from nlp_runtime.errors import RequestError
from nlp_runtime.tasks.predict_single_model import SPEC_FILE, read_spec, rebuild
from nlp_runtime.wire.annotated import InputKind, decode_input, encode_result, input_kind
from nlp_runtime.wire.text import decode_text_request

logger = logging.getLogger(__name__)


class PredictSingle(BatchHandler):
    def load(self, model_dir: Path, context: Any) -> None:
        spec = read_spec(model_dir / SPEC_FILE)
        weights = context.manifest["model"]["serializedFile"]
        self.model = rebuild(model_dir, spec, Path(spec.model_file).stem, weights)
        self.class_name = spec.class_name
        self.input_kind = input_kind(self.model.predict_single)
        self.has_batch_method = callable(getattr(self.model, "predict_batch", None))
        logger.info(
            "%s takes %s; predict_batch %s",
            self.class_name,
            self.input_kind.value,
            "used" if self.has_batch_method else "absent",
        )

    def decode_request(self, request: dict[str, Any], content_type: str) -> Any:
        if self.input_kind is InputKind.TEXT:  # the text wire format, "explain" included
            item = decode_text_request(request, content_type)
            return item.text if item.explain is None else self.mark_for_explanation(item)
        return decode_input(request, content_type, self.input_kind)

    def forward(self, inputs: Sequence[Any]) -> list[Any]:
        """predict_batch's results if the model has it, else predict_single's, one by one; an
        item whose own call fails becomes its own error."""
        with torch.inference_mode():
            if self.has_batch_method:
                outputs = self._predict_batch(inputs)
                if outputs is not None:
                    return outputs
            return [self._predict_single(item) for item in inputs]

    def encode_response(self, item: Any, prediction: Any) -> str:
        return encode_result(prediction, f"{self.class_name}.predict_single")

    def _predict_batch(self, inputs: Sequence[Any]) -> list[Any] | None:
        """predict_batch's results, or None to answer item by item instead, which isolates
        the request that made the batch fail."""
        try:
            outputs = list(self.model.predict_batch(list(inputs)))
        except Exception:
            logger.warning(
                "%s.predict_batch failed; retrying item by item", self.class_name, exc_info=True
            )
            return None
        if len(outputs) != len(inputs):
            logger.error(
                "%s.predict_batch returned %d results for %d inputs; using predict_single instead",
                self.class_name,
                len(outputs),
                len(inputs),
            )
            return None
        return outputs

    def _predict_single(self, item: Any) -> Any:
        try:
            return self.model.predict_single(item)
        except ValueError as error:
            logger.info("%s.predict_single refused an input: %s", self.class_name, error)
            return RequestError(self._message(error), status=400)
        except Exception as error:
            logger.exception("%s.predict_single failed", self.class_name)
            return RequestError(self._message(error), status=500)

    def _message(self, error: Exception) -> str:
        return f"{self.class_name}.predict_single raised {type(error).__name__}: {error}"
