"""What explanation tests compute on their own, to check a handler's explanation against: the
baseline integrated gradients starts from, the window an explanation should cover, plain
forwards at the input and at the baseline, and the word sums of per-token values."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch

# An explanation's output and baseline output against the test's own forward of the same
# model on one unpadded row (the handler pads a batch): float32 rounding only.
FORWARD_TOLERANCE = {"rel": 1e-5, "abs": 1e-6}


def baseline_ids(input_ids: Any, special: Any, fill_id: int) -> torch.Tensor:
    """Special tokens ([CLS], [SEP]) kept, every other token replaced by ``fill_id``: [PAD]
    for integrated gradients, [MASK] for SHAP's fully masked text."""
    ids = torch.as_tensor(np.asarray(input_ids))
    return torch.where(torch.as_tensor(np.asarray(special, dtype=bool)), ids,
                       torch.full_like(ids, fill_id))


def forward_at_input_and_baseline(
    model: torch.nn.Module, input_ids: Any, token_type_ids: Any, special: Any, fill_id: int
) -> tuple[Any, Any]:
    """The model's outputs for one row of ids and for its baseline, no padding."""
    types = torch.as_tensor(np.asarray(token_type_ids))[None]
    outputs = []
    for ids in (torch.as_tensor(np.asarray(input_ids)), baseline_ids(input_ids, special, fill_id)):
        with torch.no_grad():
            outputs.append(model(input_ids=ids[None], attention_mask=torch.ones_like(ids[None]),
                                 token_type_ids=types))
    return outputs[0], outputs[1]


def sequence_tokens(encoding: Any, row: int, sequence: int) -> list[int]:
    """Indices of the non-special tokens of ``sequence`` (0: first text, 1: a pair's second)."""
    special = encoding["special_tokens_mask"][row]
    return [t for t, s in enumerate(encoding.sequence_ids(row)) if s == sequence and not special[t]]


def first_window_holding(encoding: Any, start: int, end: int, sequence: int) -> int:
    """The first overflow window whose ``sequence`` tokens cover characters [start, end)."""
    for row in range(len(encoding["input_ids"])):
        offsets = encoding["offset_mapping"][row]
        tokens = sequence_tokens(encoding, row, sequence)
        if offsets[tokens[0]][0] <= start and offsets[tokens[-1]][1] >= end:
            return row
    raise AssertionError(f"no window covers characters {start}..{end}")


def overlapping(encoding: Any, row: int, sequence: int, start: int, end: int) -> list[int]:
    """Tokens of ``sequence`` in window ``row`` that overlap characters [start, end)."""
    offsets = encoding["offset_mapping"][row]
    return [t for t in sequence_tokens(encoding, row, sequence)
            if offsets[t][0] < end and offsets[t][1] > start]


def assert_rows_cover(rows: list, encoding: Any, row: int, sequence: int) -> None:
    """The word rows span exactly the window's tokens of ``sequence``."""
    offsets = encoding["offset_mapping"][row]
    tokens = sequence_tokens(encoding, row, sequence)
    assert (rows[0]["start"], rows[-1]["end"]) == (offsets[tokens[0]][0], offsets[tokens[-1]][1])


def word_sums(rows: list, offsets: Sequence, values: Sequence[float]) -> list[float]:
    """Per word row, the sum of the values of the tokens whose characters lie inside it;
    every token with a nonzero value must lie in some row."""
    sums = [0.0] * len(rows)
    for (start, end), value in zip(offsets, values, strict=True):
        inside = [i for i, r in enumerate(rows) if r["start"] <= start and end <= r["end"]]
        assert inside or value == 0, f"token at {start}..{end} has no word row"
        for i in inside:
            sums[i] += float(value)
    return sums


def assert_complete(
    explanation: dict, rows: list, output: float, baseline_output: float, tolerance: float
) -> None:
    """output and baseline_output are the test's own forward values, and the word scores sum to
    their difference within ``tolerance``."""
    assert explanation["output"] == pytest.approx(output, **FORWARD_TOLERANCE)
    assert explanation["baseline_output"] == pytest.approx(baseline_output, **FORWARD_TOLERANCE)
    total = sum(r["score"] for r in rows)
    assert total == pytest.approx(output - baseline_output, abs=tolerance)
