"""Sequence classification with a Transformer: text → ``{label: probability}``.

``save_mode`` pretrained loads the archived ``save_pretrained`` files (safetensors);
``save_mode`` torchscript loads the archived traced module, ``(input_ids, attention_mask)``
→ logits. Either way all requests of a batch go through one forward, padded to the longest
text of the batch. Labels come from ``index_to_name.json`` if archived, else from config.json.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

from nlp_runtime.base import BatchHandler
from nlp_runtime.batch_metrics import ForwardFigures
from nlp_runtime.errors import RequestError
from nlp_runtime.explain.shap_values import explain_with_shap, shap_explainer
from nlp_runtime.explain.transformer import (
    ClassificationTargets,
    argmax_label,
    explain_classification,
)
from nlp_runtime.files import INDEX_TO_NAME
from nlp_runtime.hf.config import Mode, load_handler_config
from nlp_runtime.hf.forward_plan import ForwardPlan, plan_forwards, run_plan
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


@dataclass(frozen=True)
class Texts:
    """A batch as preprocess leaves it: the tokenizer's output and its forward plan."""

    encoding: Any
    plan: ForwardPlan


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

    def preprocess(self, items: Sequence[TextRequest]) -> Texts:
        """The texts tokenized together, padded to the longest, with their forward plan; with
        the offsets and special tokens integrated gradients map back to words when a request
        asks to be explained."""
        explained = any(item.explain is not None for item in items)
        return self._texts([item.text for item in items], explained)

    def forward(self, batch: Texts) -> torch.Tensor:
        encoding = batch.encoding
        features = {n: encoding[n] for n in self.tokenizer.model_input_names if n in encoding}
        with torch.inference_mode():
            (logits,) = run_plan(self.model.forward, features, batch.plan, per_token=False)
        logger.info(
            "%d texts in %d forwards, %d padded tokens", len(logits), len(batch.plan.groups),
            batch.plan.padded_tokens,
        )
        return logits

    def forward_figures(self, batch: Texts) -> ForwardFigures:
        return batch.plan.figures()

    def postprocess(
        self, items: Sequence[TextRequest], batch: Texts, logits: torch.Tensor
    ) -> list[dict[str, float]]:
        return label_probabilities(softmax(logits), self.labels)

    def _texts(self, texts: list[str], for_explanations: bool = False) -> Texts:
        extra = dict(
            return_offsets_mapping=True, return_special_tokens_mask=True,
            return_token_type_ids=True,
        ) if for_explanations else {}
        encoding = self.tokenizer(
            texts, truncation=True, max_length=self.config.max_length, padding="longest",
            return_tensors="pt", **extra,
        )
        plan = plan_forwards(
            encoding["attention_mask"].sum(-1).numpy(), self.config.max_tokens_per_forward,
            self.config.forward_overhead_tokens,
        )
        return Texts(encoding, plan)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """[texts, labels] probabilities: what SHAP evaluates on masked texts."""
        return self.forward(self._texts(texts)).double().softmax(-1).numpy()

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
                self.model.eager, self.tokenizer.pad_token_id, batch.encoding,
                ClassificationTargets(
                    rows=[i for i, _, _ in ig], texts=[items[i].text for i, _, _ in ig],
                    label_ids=[t for _, t, _ in ig], n_steps=[n for _, _, n in ig],
                ),
                self.labels,
            )
            for (i, _, _), explanation in zip(ig, explanations, strict=True):
                results[i] = explanation
        return results
