"""Which rows of a padded batch go through the model together (pure, NumPy).

Padding every row of a batch to its longest wastes work when lengths differ (tweets in batches
of 8 carry 1.56 padded tokens per real one). Rows sorted by length are cut into contiguous
groups, each padded only to its own longest; a cut costs one more forward, counted as
``overhead_tokens`` token-equivalents (the fixed cost of a call: launches, small matrices).
The grouping minimises padded tokens plus overheads exactly (dynamic programming over the
sorted rows; a batch holds tens of rows), with at most ``max_tokens`` padded tokens per
forward.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from nlp_runtime.batch_metrics import ForwardFigures


@dataclass(frozen=True)
class ForwardPlan:
    groups: list[np.ndarray]  # row indices of each forward, shortest rows first
    widths: list[int]  # each forward's padded length
    real_tokens: int = 0  # the rows' tokens without padding

    @property
    def padded_tokens(self) -> int:
        return sum(len(g) * w for g, w in zip(self.groups, self.widths, strict=True))

    def figures(self, windows_per_request: tuple[int, ...] = ()) -> ForwardFigures:
        """The plan as the batch metrics report it, once it has run."""
        return ForwardFigures(
            len(self.groups), self.real_tokens, self.padded_tokens, windows_per_request
        )


def plan_forwards(lengths: np.ndarray, max_tokens: int, overhead_tokens: int) -> ForwardPlan:
    """Groups of rows (by real ``lengths``) minimising Σ rows × width + overhead per group."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) == 0:
        return ForwardPlan([], [])
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    n = len(order)
    best = np.full(n + 1, np.inf)  # best[j]: cost of rows order[:j]
    best[0] = 0
    cut = np.zeros(n + 1, dtype=np.int64)
    for end in range(1, n + 1):
        width = int(sorted_lengths[end - 1])  # the longest of any group ending here
        for start in range(end - 1, -1, -1):
            rows = end - start
            if rows * width > max_tokens and rows > 1:
                break  # longer groups ending here only grow
            cost = best[start] + rows * width + overhead_tokens
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups, widths, end = [], [], n
    while end > 0:
        start = int(cut[end])
        groups.append(order[start:end])
        widths.append(int(sorted_lengths[end - 1]))
        end = start
    return ForwardPlan(groups[::-1], widths[::-1], int(lengths.sum()))


def run_plan(
    forward: Callable[[dict[str, torch.Tensor]], tuple[torch.Tensor, ...]],
    features: dict[str, torch.Tensor],
    plan: ForwardPlan,
    per_token: bool,
) -> tuple[torch.Tensor, ...]:
    """Every group of ``plan`` through ``forward``, trimmed to its width; the outputs put
    back in row order. ``per_token`` outputs ([rows, tokens, ...]) are zero beyond each
    group's width, up to the widest group."""
    rows = next(iter(features.values())).shape[0]
    width = max(plan.widths, default=0)
    merged: list[torch.Tensor] = []
    for group, group_width in zip(plan.groups, plan.widths, strict=True):
        index = torch.as_tensor(group)
        outputs = forward({k: v[index, :group_width] for k, v in features.items()})
        if not merged:
            merged = [
                o.new_zeros((rows, width, *o.shape[2:]) if per_token else (rows, *o.shape[1:]))
                for o in outputs
            ]
        for target, output in zip(merged, outputs, strict=True):
            if per_token:
                target[index, :group_width] = output
            else:
                target[index] = output
    return tuple(merged)
