"""Named-entity recognition with a Transformer token classifier.

``save_mode`` pretrained loads the archived ``save_pretrained`` files (safetensors);
``save_mode`` torchscript loads the archived traced module, ``(input_ids, attention_mask,
token_type_ids)`` → logits (as torchserve_nlp.archive.tracing writes it). Labels come from the
archived config.json's id2label in both modes.

All windows of all requests of a batch go through one forward, padded to the longest window.
A text longer than ``max_length`` tokens is split into windows overlapping by ``doc_stride``
tokens; their entities are merged as the transformers pipeline merges them with ``stride``.
Per request, JSON ``parameters`` may set ``aggregation_strategy`` and ``ignore_labels``.
"""

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoModelForTokenClassification

from nlp_runtime.base import BatchHandler
from nlp_runtime.batch_metrics import ForwardFigures
from nlp_runtime.errors import RequestError
from nlp_runtime.explain.transformer import (
    METHOD,
    entity_probability,
    explain_windows,
    gradient_requests,
    metadata,
    window_words,
)
from nlp_runtime.hf.config import Mode, TransformerHandlerConfig, load_handler_config
from nlp_runtime.hf.model import (
    check_num_labels,
    config_labels,
    load_model,
    load_tokenizer,
    too_many_windows,
)
from nlp_runtime.hf.windows import Window, Windows
from nlp_runtime.postprocess.token_aggregation import TokenWindow, extract_entities, softmax
from nlp_runtime.wire.entities import EntityRequest, decode_entity_request
from nlp_runtime.wire.explain import ExplainOptions

MAX_EXPLAINED_ENTITIES = 16  # per request: each costs n_steps forwards


class TokenClassification(BatchHandler):
    def load(self, model_dir: Path, context: Any) -> None:
        config = load_handler_config(
            model_dir, getattr(context, "model_yaml_config", None), Mode.TOKEN_CLASSIFICATION
        )
        self.config = config
        # Padded on the right: windows are trimmed to their longest, at the end.
        self.tokenizer = load_tokenizer(model_dir, config, need_offsets=True)
        self._check_window(config)
        self.model = load_model(
            model_dir, config, AutoModelForTokenClassification, ("logits",),
            context.manifest["model"]["serializedFile"],
        )
        self.labels = config_labels(model_dir)
        check_num_labels(config, self.labels)
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

    def preprocess(self, items: Sequence[EntityRequest]) -> Windows:
        """Every text's windows, tokenized together."""
        encoded = self.tokenizer(
            [item.text for item in items],
            truncation=True,
            max_length=self.config.max_length,
            stride=self.config.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            padding="longest",
            return_tensors="np",
        )
        ready = list(range(len(items)))
        return Windows.of(encoded, [None] * len(items), ready, self.config)

    def forward(self, batch: Windows) -> np.ndarray:
        """Softmax over labels for the kept windows: one forward, trimmed to their longest."""
        if not batch.keep.any():
            return np.zeros((0, 0, len(self.labels)), dtype=np.float32)
        (logits,) = batch.forward(self.model.forward)
        return softmax(logits)

    def forward_figures(self, batch: Windows) -> ForwardFigures:
        return batch.figures()

    def postprocess(
        self, items: Sequence[EntityRequest], batch: Windows, probabilities: np.ndarray
    ) -> list[list[dict[str, Any]] | RequestError]:
        step = self.config.max_length - self.tokenizer.num_special_tokens_to_add()
        step -= self.config.doc_stride
        kept = np.flatnonzero(batch.keep)
        results: list[list[dict[str, Any]] | RequestError] = []
        for idx, item in enumerate(items):
            if batch.counts[idx] > self.config.max_windows:
                results.append(too_many_windows(int(batch.counts[idx]), self.config, "text"))
                continue
            windows = [
                self._window(batch.encoded, row, probabilities[np.searchsorted(kept, row)],
                             n * step)
                for n, row in enumerate(batch.rows_of(idx))
            ]
            results.append(
                extract_entities(
                    item.text, windows, item.strategy, self.labels, item.ignore_labels,
                    self.tokenizer.convert_tokens_to_string, self.word_aware,
                )
            )
        return results

    def mark_for_explanation(self, item: EntityRequest) -> EntityRequest:
        return replace(item, explain=item.explain or ExplainOptions())

    def explain_batch(
        self, items: Sequence[EntityRequest], batch: Windows, predictions: list[Any]
    ) -> list[Any]:
        """Per entity (the first MAX_EXPLAINED_ENTITIES of a request): attributions to the
        probability of its label over its tokens, in the first of the batch's windows of its
        text that holds it."""
        results, ready = gradient_requests(
            items, predictions, self.model.eager is not None, "token classification"
        )
        jobs = []
        for i in ready:
            results[i] = []
            for entity in predictions[i][:MAX_EXPLAINED_ENTITIES]:
                jobs.append((i, entity, *self._entity_window(batch, i, entity)))
        if jobs:
            found = explain_windows(
                self.model.eager, entity_probability, [window for _, _, window, _ in jobs],
                [targets for _, _, _, targets in jobs],
                [items[i].explain.n_steps for i, _, _, _ in jobs], self.tokenizer.pad_token_id,
            )
            for (i, entity, window, _), (result, row) in zip(jobs, found, strict=True):
                label = entity.get("entity_group", entity.get("entity"))
                results[i].append({
                    "method": METHOD,
                    "target": f"{label}: {entity['word']}",
                    "entity": {k: entity[k] for k in ("word", "start", "end")},
                    "text": items[i].text,
                    "attributions": window_words(items[i].text, result, row, window, 0),
                    **metadata(result, row, items[i].explain.n_steps),
                })
        return results

    def _entity_window(
        self, batch: Windows, position: int, entity: dict[str, Any]
    ) -> tuple[Window, tuple[np.ndarray, np.ndarray]]:
        """The first of the text's windows holding the entity, with the objective's token
        and label masks."""
        label = entity.get("entity_group", entity.get("entity"))
        label_mask = np.array(
            [name == label or name[2:] == label and name[:2] in ("B-", "I-")
             for name in self.labels], dtype=np.float32,
        )
        for row in batch.rows_of(position):
            window = batch.window(int(row))
            offsets = window.offsets
            tokens = ~window.special & (offsets[:, 0] < entity["end"]) & (
                offsets[:, 1] > entity["start"]
            )
            if tokens.any() and offsets[tokens][0, 0] <= entity["start"] and (
                offsets[tokens][-1, 1] >= entity["end"]
            ):
                return window, (tokens.astype(np.float32), label_mask)
        raise RuntimeError(f"entity {entity} is in no window of its text")

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
