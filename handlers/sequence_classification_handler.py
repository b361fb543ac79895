"""Sequence classification with a Transformer: text → ``{label: probability}``.

``save_mode`` pretrained loads the archived ``save_pretrained`` files (safetensors);
``save_mode`` torchscript loads the archived traced module, ``(input_ids, attention_mask)``
→ logits. Either way all requests of a batch go through one forward, padded to the longest
text of the batch. Labels come from ``index_to_name.json`` if archived, else from config.json.
"""

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from batch_handler_base import BatchHandler, RequestError
from classification_postprocess import label_probabilities, read_index_to_name, softmax
from text_request import decode_text_request
from transformer_config import Mode, SaveMode, load_handler_config
from transformers import AutoModelForSequenceClassification, AutoTokenizer

logger = logging.getLogger(__name__)
INDEX_TO_NAME = "index_to_name.json"
MODEL_CONFIG = "config.json"
Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class SequenceClassificationHandler(BatchHandler):
    def load(self, model_dir: Path, context: Any) -> None:
        config = load_handler_config(
            model_dir, getattr(context, "model_yaml_config", None), Mode.SEQUENCE_CLASSIFICATION
        )
        self.config = config
        self.tokenizer = AutoTokenizer.from_pretrained(
            model_dir, do_lower_case=config.do_lower_case, local_files_only=True
        )
        self.tokenizer.padding_side = "right"
        if config.save_mode is SaveMode.TORCHSCRIPT:
            self.forward = _load_traced(model_dir, context.manifest["model"]["serializedFile"])
        else:
            self.forward = _load_pretrained(model_dir)
        self.labels = _read_labels(model_dir)
        if config.num_labels is not None and config.num_labels != len(self.labels):
            raise ValueError(
                f"'num_labels' is {config.num_labels}; the archive names {len(self.labels)} labels"
            )

    def decode_request(self, request: dict[str, Any], content_type: str) -> str:
        decoded = decode_text_request(request, content_type)
        if decoded.parameters:
            raise RequestError(
                f"unknown parameter {sorted(decoded.parameters)[0]!r}; "
                "this model takes no parameters"
            )
        return decoded.text

    def predict(self, inputs: list[str]) -> list[dict[str, float]]:
        encoded = self.tokenizer(
            inputs, truncation=True, max_length=self.config.max_length,
            padding="longest", return_tensors="pt",
        )
        with torch.inference_mode():
            logits = self.forward(encoded["input_ids"], encoded["attention_mask"])
        logger.info("forward over %d texts of %d tokens", *encoded["input_ids"].shape)
        return label_probabilities(softmax(logits), self.labels)


def _load_pretrained(model_dir: Path) -> Forward:
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, use_safetensors=True, local_files_only=True
    ).eval()

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return model(input_ids=input_ids, attention_mask=attention_mask).logits

    return forward


def _load_traced(model_dir: Path, serialized_file: str) -> Forward:
    """Our own traced artifact (scripts/archive_sequence_classifier.py --torchscript)."""
    return torch.jit.load(str(model_dir / serialized_file), map_location="cpu").eval()


def _read_labels(model_dir: Path) -> list[str]:
    if (model_dir / INDEX_TO_NAME).exists():
        return read_index_to_name(model_dir / INDEX_TO_NAME)
    if not (model_dir / MODEL_CONFIG).exists():
        raise ValueError(f"archive {INDEX_TO_NAME} or {MODEL_CONFIG} to name the labels")
    id2label = json.loads((model_dir / MODEL_CONFIG).read_text(encoding="utf-8")).get("id2label")
    if not id2label:
        raise ValueError(f"{MODEL_CONFIG} has no id2label; archive {INDEX_TO_NAME}")
    return [id2label[str(i)] for i in range(len(id2label))]
