"""Pure statistics for benchmarks run in alternating rounds.

On a shared, noisy machine the load of the moment moves every figure of a round together, so
the ratio of two archives measured in the same round is steadier than the ratio of their
overall means. Each round therefore measures every archive once, in an order rotated by one
each round (nobody is always first after a quiet spell), and ratios are taken round by round,
then their median."""

import statistics
from collections.abc import Mapping, Sequence
from typing import TypeVar

Item = TypeVar("Item")


def rotated(items: Sequence[Item], round_index: int) -> list[Item]:
    """``items`` starting at position ``round_index`` (modulo their count), wrapping around."""
    if not items:
        return []
    shift = round_index % len(items)
    return [*items[shift:], *items[:shift]]


def median(values: Sequence[float | None]) -> float | None:
    """The median of the values that are not None; None when there is none."""
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def per_round_ratios(
    values: Sequence[float | None], baseline: Sequence[float | None]
) -> list[float | None]:
    """``values[i] / baseline[i]`` for each round; None where either is missing or the
    baseline is not positive."""
    if len(values) != len(baseline):
        raise ValueError(f"{len(values)} rounds against {len(baseline)} baseline rounds")
    return [
        value / base if value is not None and base is not None and base > 0 else None
        for value, base in zip(values, baseline, strict=True)
    ]


def median_ratio(
    values: Sequence[float | None], baseline: Sequence[float | None]
) -> float | None:
    """The median over rounds of the per-round ratio ``values / baseline``."""
    return median(per_round_ratios(values, baseline))


def spread(values: Sequence[float | None]) -> tuple[float, float] | None:
    """(lowest, highest) of the values that are not None: how far rounds disagree."""
    present = [value for value in values if value is not None]
    return (min(present), max(present)) if present else None


def ratios_to_baseline(
    per_round: Mapping[str, Sequence[float | None]], baseline: str
) -> dict[str, float | None]:
    """For every name, the median over rounds of its figure over ``baseline``'s figure of the
    same round (the baseline's own is 1.0 whenever it was measured)."""
    if baseline not in per_round:
        raise KeyError(f"baseline {baseline!r} is not among {sorted(per_round)}")
    return {
        name: median_ratio(values, per_round[baseline]) for name, values in per_round.items()
    }
