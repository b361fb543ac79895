"""Sequence classification with a Transformer: text → ``{label: probability}``.

``save_mode`` pretrained loads the archived ``save_pretrained`` files (safetensors);
``save_mode`` torchscript loads the archived traced module, ``(input_ids, attention_mask)``
→ logits. Either way all requests of a batch go through one forward, padded to the longest
text of the batch. Labels come from ``index_to_name.json`` if archived, else from config.json.
"""

import logging
from pathlib import Path
from typing import Any

import torch
from batch_handler_base import BatchHandler, RequestError
from classification_postprocess import label_probabilities, read_index_to_name, softmax
from text_request import decode_text_request
from transformer_config import Mode, load_handler_config
from transformer_model import check_num_labels, config_labels, load_forward, load_tokenizer
from transformers import AutoModelForSequenceClassification

logger = logging.getLogger(__name__)
INDEX_TO_NAME = "index_to_name.json"


class SequenceClassificationHandler(BatchHandler):
    def load(self, model_dir: Path, context: Any) -> None:
        config = load_handler_config(
            model_dir, getattr(context, "model_yaml_config", None), Mode.SEQUENCE_CLASSIFICATION
        )
        self.config = config
        self.tokenizer = load_tokenizer(model_dir, config, need_offsets=False)
        self.forward = load_forward(
            model_dir, config, AutoModelForSequenceClassification, ("logits",),
            context.manifest["model"]["serializedFile"],
        )
        index_to_name = model_dir / INDEX_TO_NAME
        exists = index_to_name.exists()
        self.labels = read_index_to_name(index_to_name) if exists else config_labels(model_dir)
        check_num_labels(config, self.labels)

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
            (logits,) = self.forward(dict(encoded))
        logger.info("forward over %d texts of %d tokens", *encoded["input_ids"].shape)
        return label_probabilities(softmax(logits), self.labels)
