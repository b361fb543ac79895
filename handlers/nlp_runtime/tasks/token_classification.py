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

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoModelForTokenClassification

from nlp_runtime.base import BatchHandler
from nlp_runtime.errors import RequestError
from nlp_runtime.explain.transformer import (
    METHOD,
    Window,
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
    forward_windows,
    load_model,
    load_tokenizer,
    too_many_windows,
    window_counts,
)
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
        counts, keep = window_counts(owner, len(inputs), self.config.max_windows)
        probabilities = self._probabilities(encoded, keep)
        step = self.config.max_length - self.tokenizer.num_special_tokens_to_add()
        step -= self.config.doc_stride
        rows = np.flatnonzero(keep)
        results: list[list[dict[str, Any]] | RequestError] = []
        for idx, item in enumerate(inputs):
            if counts[idx] > self.config.max_windows:
                results.append(too_many_windows(int(counts[idx]), self.config, "text"))
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

    def mark_for_explanation(self, item: EntityRequest) -> EntityRequest:
        return replace(item, explain=item.explain or ExplainOptions())

    def explain_batch(self, items: list[EntityRequest], outputs: list[Any]) -> list[Any]:
        """Per entity (the first MAX_EXPLAINED_ENTITIES of a request): attributions to the
        probability of its label over its tokens, in the first window holding it."""
        results, ready = gradient_requests(
            items, outputs, self.model.eager is not None, "token classification"
        )
        jobs = []
        for i in ready:
            results[i] = []
            encoded = self._windows_of(items[i].text)
            for entity in outputs[i][:MAX_EXPLAINED_ENTITIES]:
                jobs.append((i, entity, *self._entity_window(encoded, entity)))
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

    def _windows_of(self, text: str) -> Any:
        """One text's windows, as predict splits it, with what explanations need."""
        return self.tokenizer(
            text, truncation=True, max_length=self.config.max_length,
            stride=self.config.doc_stride, return_overflowing_tokens=True,
            return_offsets_mapping=True, return_special_tokens_mask=True,
            return_token_type_ids=True,
        )

    def _entity_window(
        self, encoded: Any, entity: dict[str, Any]
    ) -> tuple[Window, tuple[np.ndarray, np.ndarray]]:
        """The first of ``encoded``'s windows holding the entity, with the objective's token
        and label masks."""
        label = entity.get("entity_group", entity.get("entity"))
        label_mask = np.array(
            [name == label or name[2:] == label and name[:2] in ("B-", "I-")
             for name in self.labels], dtype=np.float32,
        )
        for row in range(len(encoded["input_ids"])):
            offsets = np.asarray(encoded["offset_mapping"][row])
            special = np.asarray(encoded["special_tokens_mask"][row], dtype=bool)
            tokens = ~special & (offsets[:, 0] < entity["end"]) & (offsets[:, 1] > entity["start"])
            if tokens.any() and offsets[tokens][0, 0] <= entity["start"] and (
                offsets[tokens][-1, 1] >= entity["end"]
            ):
                window = Window(
                    input_ids=np.asarray(encoded["input_ids"][row]),
                    token_type_ids=np.asarray(encoded["token_type_ids"][row]),
                    special=special, offsets=offsets, word_ids=encoded.word_ids(row),
                    sequence_ids=encoded.sequence_ids(row),
                )
                return window, (tokens.astype(np.float32), label_mask)
        raise RuntimeError(f"entity {entity} is in no window of its text")

    def _probabilities(self, encoded: Any, keep: np.ndarray) -> np.ndarray:
        """Softmax over labels for the kept windows: one forward, trimmed to their longest."""
        if not keep.any():
            return np.zeros((0, 0, len(self.labels)), dtype=np.float32)
        (logits,) = forward_windows(self.model.forward, encoded, keep)
        return softmax(logits)

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
