"""Rows grouped by length for fewer padded tokens (nlp_runtime.hf.forward_plan), on hand-made
lengths, checked against brute force."""

import itertools

import numpy as np
import pytest
import torch

from nlp_runtime.hf.forward_plan import ForwardPlan, plan_forwards, run_plan


def cost(plan: ForwardPlan, overhead: int) -> int:
    return plan.padded_tokens + overhead * len(plan.groups)


def brute_force_cost(lengths: list[int], max_tokens: int, overhead: int) -> int:
    """Every way to cut the sorted rows into contiguous groups."""
    ordered = sorted(lengths)
    n, best = len(ordered), None
    for cuts in itertools.product((False, True), repeat=n - 1):
        bounds = [0, *[i + 1 for i, cut in enumerate(cuts) if cut], n]
        groups = [ordered[a:b] for a, b in itertools.pairwise(bounds)]
        if any(len(g) > 1 and len(g) * g[-1] > max_tokens for g in groups):
            continue
        total = sum(len(g) * g[-1] + overhead for g in groups)
        best = total if best is None else min(best, total)
    return best


def assert_partition(plan: ForwardPlan, lengths: np.ndarray) -> None:
    rows = np.concatenate(plan.groups)
    assert sorted(rows.tolist()) == list(range(len(lengths)))
    for group, width in zip(plan.groups, plan.widths, strict=True):
        assert width == lengths[group].max()


def test_equal_lengths_stay_one_forward():
    plan = plan_forwards(np.array([20] * 8), max_tokens=8192, overhead_tokens=32)
    assert len(plan.groups) == 1 and plan.widths == [20] and plan.padded_tokens == 160


def test_one_long_text_gets_its_own_forward():
    lengths = np.array([12, 10, 120, 11, 9, 13, 10, 12])
    plan = plan_forwards(lengths, max_tokens=8192, overhead_tokens=32)
    assert_partition(plan, lengths)
    assert [g.tolist() for g in plan.groups] == [[4, 1, 6, 3, 0, 7, 5], [2]]
    assert plan.widths == [13, 120]
    assert plan.padded_tokens == 7 * 13 + 120  # against 8 × 120 padded to the longest


def test_without_overhead_nothing_is_padded_and_with_a_huge_one_nothing_is_cut():
    lengths = np.array([5, 17, 9, 30, 2])
    assert plan_forwards(lengths, 8192, 0).padded_tokens == lengths.sum()
    assert len(plan_forwards(lengths, 8192, 10_000).groups) == 1


def test_the_token_budget_caps_every_forward_but_a_single_row():
    lengths = np.array([40] * 6 + [300])
    plan = plan_forwards(lengths, max_tokens=100, overhead_tokens=1000)
    assert_partition(plan, lengths)
    for group, width in zip(plan.groups, plan.widths, strict=True):
        assert len(group) * width <= 100 or len(group) == 1


@pytest.mark.parametrize("seed", range(30))
def test_the_plan_is_optimal(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 80, size=int(rng.integers(1, 9)))
    max_tokens, overhead = int(rng.integers(80, 400)), int(rng.integers(0, 60))
    plan = plan_forwards(lengths, max_tokens, overhead)
    assert_partition(plan, lengths)
    assert cost(plan, overhead) == brute_force_cost(lengths.tolist(), max_tokens, overhead)


def test_run_plan_returns_outputs_in_row_order_and_trims_each_forward():
    lengths = np.array([3, 6, 2, 6])
    ids = torch.zeros((4, 6), dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.arange(1, n + 1) + 10 * row
    calls = []

    def pooled(features):
        calls.append(tuple(features["input_ids"].shape))
        return (features["input_ids"].sum(-1, keepdim=True).float(),)

    def per_token(features):
        return (features["input_ids"].float() * 2,)

    plan = plan_forwards(lengths, 8192, overhead_tokens=1)
    assert len(plan.groups) > 1 and plan.padded_tokens < 4 * 6
    (sums,) = run_plan(pooled, {"input_ids": ids}, plan, per_token=False)
    (doubled,) = run_plan(per_token, {"input_ids": ids}, plan, per_token=True)
    assert sorted(calls) == sorted(
        (len(g), w) for g, w in zip(plan.groups, plan.widths, strict=True)
    )
    assert sums[:, 0].tolist() == ids.sum(-1).float().tolist()
    assert torch.equal(doubled, ids.float() * 2)  # in row order, zero past each group's width
