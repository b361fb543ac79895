"""Statistics of alternating benchmark rounds, on hand-made numbers."""

import pytest

from torchserve_nlp.bench.round_stats import (
    median,
    median_ratio,
    per_round_ratios,
    ratios_to_baseline,
    rotated,
    spread,
)


def test_each_round_starts_one_further_and_wraps_around():
    names = ["a", "b", "c"]
    assert [rotated(names, r) for r in range(4)] == [
        ["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"],
    ]
    assert rotated([], 2) == []


def test_every_item_leads_exactly_once_in_as_many_rounds_as_items():
    names = ["a", "b", "c", "d"]
    assert sorted(rotated(names, r)[0] for r in range(len(names))) == names


def test_median_skips_missing_values():
    assert median([3.0, None, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0]) == 2.5
    assert median([None, None]) is None
    assert median([]) is None


def test_ratios_are_taken_round_by_round():
    # A noisy machine: round 2 is slow for everyone, yet the archive is twice the baseline
    # in every round, which the ratio of medians (75 / 50 = 1.5) would hide.
    archive = [100.0, 40.0, 120.0]
    baseline = [50.0, 20.0, 60.0]
    assert per_round_ratios(archive, baseline) == [2.0, 2.0, 2.0]
    assert median_ratio(archive, baseline) == 2.0
    assert median(archive) / median(baseline) == pytest.approx(2.0)  # same here...
    skewed = [100.0, 40.0, 30.0]  # ...but not when the slow round moves:
    assert median_ratio(skewed, baseline) == 2.0
    assert median(skewed) / median(baseline) == pytest.approx(0.8)


def test_a_missing_or_zero_figure_gives_no_ratio_for_its_round():
    assert per_round_ratios([1.0, None, 3.0], [2.0, 2.0, 0.0]) == [0.5, None, None]
    assert median_ratio([None], [1.0]) is None


def test_rounds_must_pair_up():
    with pytest.raises(ValueError, match="2 rounds against 3"):
        per_round_ratios([1.0, 2.0], [1.0, 2.0, 3.0])


def test_ratios_to_baseline_give_the_baseline_one():
    ratios = ratios_to_baseline({"fp32": [10.0, 20.0], "int8": [30.0, 50.0]}, "fp32")
    assert ratios == {"fp32": 1.0, "int8": 2.75}
    with pytest.raises(KeyError, match="bf16"):
        ratios_to_baseline({"fp32": [1.0]}, "bf16")


def test_spread_is_lowest_and_highest_present_value():
    assert spread([3.0, None, 1.0, 2.0]) == (1.0, 3.0)
    assert spread([None]) is None
