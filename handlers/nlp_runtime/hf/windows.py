"""A batch of tokenized windows (QA and token classification), as ``preprocess`` makes it
and the later steps read it: which request each window belongs to, which requests are
served, and any window as an unpadded ``Window`` for explanations."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlp_runtime.errors import RequestError


@dataclass(frozen=True)
class Window:
    """One tokenized window to explain; arrays have one entry per token."""

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    special: np.ndarray  # bool: [CLS], [SEP] (kept in the baseline)
    offsets: np.ndarray
    word_ids: Sequence[int | None]
    sequence_ids: Sequence[int | None]


@dataclass(frozen=True)
class Windows:
    """``encoded``: the tokenizer's output for the ``ready`` requests (NumPy, padded, with
    ``overflow_to_sample_mapping``, offsets and special tokens); None if none is ready.
    ``errors``: per request of the batch, None or why it was not tokenized. ``counts``: windows
    per ready request; ``keep``: per window, whether its request is served (needs at most
    ``max_windows``)."""

    encoded: Any
    errors: list[RequestError | None]
    ready: list[int]
    counts: np.ndarray
    keep: np.ndarray

    @classmethod
    def of(
        cls, encoded: Any, errors: list[RequestError | None], ready: list[int], max_windows: int
    ) -> "Windows":
        if encoded is None:
            empty = np.zeros(0, dtype=np.int64)
            return cls(None, errors, ready, empty, empty.astype(bool))
        counts = np.bincount(encoded["overflow_to_sample_mapping"], minlength=len(ready))
        keep = counts[encoded["overflow_to_sample_mapping"]] <= max_windows
        return cls(encoded, errors, ready, counts, keep)

    def rows_of(self, position: int) -> np.ndarray:
        """The window rows of the ``position``-th ready request, in text order."""
        return np.flatnonzero(self.encoded["overflow_to_sample_mapping"] == position)

    def window(self, row: int) -> Window:
        """Window ``row`` without its padding, as if its text had been tokenized alone."""
        encoded = self.encoded
        n = int(encoded["attention_mask"][row].sum())
        ids = encoded["input_ids"][row, :n]
        types = encoded["token_type_ids"][row, :n] if "token_type_ids" in encoded else None
        return Window(
            input_ids=ids,
            token_type_ids=np.zeros_like(ids) if types is None else types,
            special=encoded["special_tokens_mask"][row, :n].astype(bool),
            offsets=encoded["offset_mapping"][row, :n],
            word_ids=encoded.word_ids(row)[:n],
            sequence_ids=encoded.sequence_ids(row)[:n],
        )
