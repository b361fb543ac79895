"""Sequence classification with a Transformer: text → ``{label: probability}``.

``save_mode`` pretrained loads the archived ``save_pretrained`` files (safetensors);
``save_mode`` torchscript loads the archived traced module, ``(input_ids, attention_mask)``
→ logits. Either way all requests of a batch go through one forward, padded to the longest
text of the batch. Labels come from ``index_to_name.json`` if archived, else from config.json.
"""

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

from nlp_runtime.base import BatchHandler
from nlp_runtime.errors import RequestError
from nlp_runtime.explain.shap_values import explain_with_shap, shap_explainer
from nlp_runtime.explain.transformer import (
    ClassificationTargets,
    argmax_label,
    explain_classification,
)
from nlp_runtime.files import INDEX_TO_NAME
from nlp_runtime.hf.config import Mode, load_handler_config
from nlp_runtime.hf.model import (
    check_num_labels,
    config_labels,
    eager_required,
    load_model,
    load_tokenizer,
)
from nlp_runtime.postprocess.classification import label_probabilities, read_index_to_name, softmax
from nlp_runtime.wire.explain import ExplainMethod, ExplainOptions
from nlp_runtime.wire.text import TextRequest, decode_text_request

logger = logging.getLogger(__name__)


class SequenceClassification(BatchHandler):
    def load(self, model_dir: Path, context: Any) -> None:
        config = load_handler_config(
            model_dir, getattr(context, "model_yaml_config", None), Mode.SEQUENCE_CLASSIFICATION
        )
        self.config = config
        self.tokenizer = load_tokenizer(model_dir, config, need_offsets=False)
        self.model = load_model(
            model_dir, config, AutoModelForSequenceClassification, ("logits",),
            context.manifest["model"]["serializedFile"],
        )
        index_to_name = model_dir / INDEX_TO_NAME
        exists = index_to_name.exists()
        self.labels = read_index_to_name(index_to_name) if exists else config_labels(model_dir)
        check_num_labels(config, self.labels)
        self.context_name = getattr(context, "model_name", None) or "this archive"
        self.shap = None  # built on the first SHAP request

    def decode_request(self, request: dict[str, Any], content_type: str) -> TextRequest:
        return decode_text_request(request, content_type)

    def preprocess(self, items: Sequence[TextRequest]) -> Any:
        """The texts tokenized together, padded to the longest; with the offsets and special
        tokens integrated gradients map back to words when a request asks to be explained."""
        explained = any(item.explain is not None for item in items)
        return self._encode([item.text for item in items], explained)

    def forward(self, batch: Any) -> torch.Tensor:
        features = {name: batch[name] for name in self.tokenizer.model_input_names if name in batch}
        with torch.inference_mode():
            (logits,) = self.model.forward(features)
        logger.info("forward over %d texts of %d tokens", *batch["input_ids"].shape)
        return logits

    def postprocess(
        self, items: Sequence[TextRequest], batch: Any, logits: torch.Tensor
    ) -> list[dict[str, float]]:
        return label_probabilities(softmax(logits), self.labels)

    def _encode(self, texts: list[str], for_explanations: bool = False) -> Any:
        extra = dict(
            return_offsets_mapping=True, return_special_tokens_mask=True,
            return_token_type_ids=True,
        ) if for_explanations else {}
        return self.tokenizer(
            texts, truncation=True, max_length=self.config.max_length, padding="longest",
            return_tensors="pt", **extra,
        )

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """[texts, labels] probabilities: what SHAP evaluates on masked texts."""
        return self.forward(self._encode(texts)).double().softmax(-1).numpy()

    def _shap(self) -> Any:
        if self.shap is None:
            self.shap = shap_explainer(self.probabilities, self.tokenizer, self.labels)
        return self.shap

    def mark_for_explanation(self, item: TextRequest) -> TextRequest:
        return replace(item, explain=item.explain or ExplainOptions())

    def explain_batch(
        self, items: Sequence[TextRequest], batch: Any, predictions: list[dict[str, float]]
    ) -> list[Any]:
        """Integrated gradients (pretrained archives) or SHAP (any archive: it only needs
        predictions) for the requests that asked, toward the predicted or requested label;
        integrated gradients start from the batch's own tokens."""
        results: list[Any] = [None] * len(items)
        ig = []
        for i, item in enumerate(items):
            if item.explain is None:
                continue
            target = item.explain.target or argmax_label(predictions[i])
            if target not in self.labels:
                results[i] = RequestError(
                    f"'explain.target' {target!r} is not a label; labels: {self.labels}"
                )
            elif item.explain.method is ExplainMethod.SHAP:
                results[i] = explain_with_shap(
                    self._shap(), self.tokenizer, item.text, self.labels.index(target),
                    target, item.explain.max_evals, self.config.max_length,
                    predictions[i][target],
                )
            elif self.model.eager is None:
                results[i] = eager_required(self.context_name)
            else:
                ig.append((i, self.labels.index(target), item.explain.n_steps))
        if ig:
            explanations = explain_classification(
                self.model.eager, self.tokenizer.pad_token_id, batch,
                ClassificationTargets(
                    rows=[i for i, _, _ in ig], texts=[items[i].text for i, _, _ in ig],
                    label_ids=[t for _, t, _ in ig], n_steps=[n for _, _, n in ig],
                ),
                self.labels,
            )
            for (i, _, _), explanation in zip(ig, explanations, strict=True):
                results[i] = explanation
        return results
