"""A batch of tokenized windows (QA and token classification), as ``preprocess`` makes it
and the later steps read it: which request each window belongs to, which requests are
served, and any window as an unpadded ``Window`` for explanations."""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nlp_runtime.batch_metrics import ForwardFigures
from nlp_runtime.errors import RequestError
from nlp_runtime.hf.config import TransformerHandlerConfig
from nlp_runtime.hf.forward_plan import ForwardPlan, plan_forwards, run_plan
from nlp_runtime.hf.model import TRACED_INPUTS

logger = logging.getLogger(__name__)


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
    ``max_windows``). ``plan``: the kept windows' forwards, in groups of similar length."""

    encoded: Any
    errors: list[RequestError | None]
    ready: list[int]
    counts: np.ndarray
    keep: np.ndarray
    plan: ForwardPlan

    @classmethod
    def of(
        cls, encoded: Any, errors: list[RequestError | None], ready: list[int],
        config: TransformerHandlerConfig,
    ) -> "Windows":
        if encoded is None:
            empty = np.zeros(0, dtype=np.int64)
            return cls(None, errors, ready, empty, empty.astype(bool), ForwardPlan([], []))
        owner = encoded["overflow_to_sample_mapping"]
        counts = np.bincount(owner, minlength=len(ready))
        keep = counts[owner] <= config.max_windows
        lengths = encoded["attention_mask"][keep].sum(axis=1)
        plan = plan_forwards(
            lengths, config.max_tokens_per_forward, config.forward_overhead_tokens
        )
        return cls(encoded, errors, ready, counts, keep, plan)

    def forward(
        self, model: Callable[[dict[str, torch.Tensor]], tuple[torch.Tensor, ...]]
    ) -> tuple[np.ndarray, ...]:
        """The model's per-token outputs for the kept windows (float32, [kept, tokens, ...],
        zero past each window's group width), run as planned."""
        kept = {
            name: torch.from_numpy(self.encoded[name][self.keep])
            for name in TRACED_INPUTS
            if name in self.encoded
        }
        with torch.inference_mode():
            outputs = run_plan(model, kept, self.plan, per_token=True)
        logger.info(
            "%d windows in %d forwards, %d padded tokens", int(self.keep.sum()),
            len(self.plan.groups), self.plan.padded_tokens,
        )
        return tuple(output.float().numpy() for output in outputs)

    def figures(self) -> ForwardFigures:
        """The kept windows' forwards, and every tokenized request's window count (those
        refused for too many windows included), for the batch metrics."""
        return self.plan.figures(tuple(int(n) for n in self.counts))

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
