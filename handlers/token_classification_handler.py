"""Named-entity recognition with a Transformer token classifier.

All windows of all requests of a batch go through one forward, padded to the longest window.
A text longer than ``max_length`` tokens is split into windows overlapping by ``doc_stride``
tokens; their entities are merged as the transformers pipeline merges them with ``stride``.
Per request, JSON ``parameters`` may set ``aggregation_strategy`` and ``ignore_labels``.
"""

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from batch_handler_base import BatchHandler, RequestError
from entity_request import EntityRequest, decode_entity_request
from token_aggregation import TokenWindow, extract_entities, softmax
from transformer_config import Mode, SaveMode, TransformerHandlerConfig, load_handler_config
from transformers import AutoModelForTokenClassification, AutoTokenizer

logger = logging.getLogger(__name__)


class TokenClassificationHandler(BatchHandler):
    def load(self, model_dir: Path, context: Any) -> None:
        config = load_handler_config(
            model_dir, getattr(context, "model_yaml_config", None), Mode.TOKEN_CLASSIFICATION
        )
        self.config = config
        self.tokenizer = AutoTokenizer.from_pretrained(
            model_dir, do_lower_case=config.do_lower_case, local_files_only=True
        )
        if not self.tokenizer.is_fast:
            raise ValueError(f"{model_dir} holds a slow tokenizer; archive tokenizer.json")
        self.tokenizer.padding_side = "right"  # windows are trimmed to their longest, at the end
        self._check_window(config)
        if config.save_mode is not SaveMode.PRETRAINED:
            raise ValueError(
                f"'save_mode' {config.save_mode.value!r} is not served yet; use pretrained"
            )
        model = AutoModelForTokenClassification.from_pretrained(
            model_dir, use_safetensors=True, local_files_only=True
        )
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        if config.num_labels is not None and config.num_labels != len(self.labels):
            raise ValueError(
                f"'num_labels' is {config.num_labels}; the model has {len(self.labels)}"
            )
        self.model = model.eval()
        self.word_aware = bool(
            getattr(self.tokenizer.backend_tokenizer.model, "continuing_subword_prefix", None)
        )

    def _check_window(self, config: TransformerHandlerConfig) -> None:
        content = config.max_length - self.tokenizer.num_special_tokens_to_add()
        if config.doc_stride >= content:
            raise ValueError(
                f"'doc_stride' ({config.doc_stride}) must be smaller than the {content} text "
                f"tokens a window of 'max_length' {config.max_length} holds"
            )

    def decode_request(self, request: dict[str, Any], content_type: str) -> EntityRequest:
        return decode_entity_request(request, content_type, self.config)

    def predict(self, inputs: list[EntityRequest]) -> list[list[dict[str, Any]] | RequestError]:
        encoded = self.tokenizer(
            [item.text for item in inputs],
            truncation=True,
            max_length=self.config.max_length,
            stride=self.config.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            padding="longest",
            return_tensors="np",
        )
        owner = encoded["overflow_to_sample_mapping"]
        counts = np.bincount(owner, minlength=len(inputs))
        keep = counts[owner] <= self.config.max_windows
        probabilities = self._probabilities(encoded, keep)
        step = self.config.max_length - self.tokenizer.num_special_tokens_to_add()
        step -= self.config.doc_stride
        rows = np.flatnonzero(keep)
        results: list[list[dict[str, Any]] | RequestError] = []
        for idx, item in enumerate(inputs):
            if counts[idx] > self.config.max_windows:
                results.append(self._too_long(counts[idx]))
                continue
            windows = [
                self._window(encoded, row, probabilities[np.searchsorted(rows, row)], n * step)
                for n, row in enumerate(np.flatnonzero(owner == idx))
            ]
            results.append(
                extract_entities(
                    item.text, windows, item.strategy, self.labels, item.ignore_labels,
                    self.tokenizer.convert_tokens_to_string, self.word_aware,
                )
            )
        return results

    def _probabilities(self, encoded: Any, keep: np.ndarray) -> np.ndarray:
        """Softmax over labels for the kept windows: one forward, trimmed to their longest."""
        if not keep.any():
            return np.zeros((0, 0, len(self.labels)), dtype=np.float32)
        attention = encoded["attention_mask"][keep]
        width = int(attention.sum(axis=1).max())
        features = {
            name: torch.from_numpy(encoded[name][keep][:, :width])
            for name in ("input_ids", "attention_mask", "token_type_ids")
            if name in encoded
        }
        with torch.inference_mode():
            logits = self.model(**features).logits
        logger.info("forward over %d windows of %d tokens", *features["input_ids"].shape)
        return softmax(logits.float().numpy())

    def _window(self, encoded: Any, row: int, scores: np.ndarray, offset: int) -> TokenWindow:
        width = scores.shape[0]
        ids = encoded["input_ids"][row, :width]
        return TokenWindow(
            tokens=self.tokenizer.convert_ids_to_tokens(ids.tolist()),
            scores=scores,
            offsets=encoded["offset_mapping"][row, :width],
            special=encoded["special_tokens_mask"][row, :width].astype(bool),
            unknown=ids == self.tokenizer.unk_token_id,
            index_offset=offset,
        )

    def _too_long(self, windows: int) -> RequestError:
        return RequestError(
            f"text needs {windows} windows of 'max_length' {self.config.max_length} tokens; "
            f"at most {self.config.max_windows} are served per request",
            status=413,
        )
