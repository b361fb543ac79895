"""Benchmark statistics on hand-made numbers."""

import pytest

from torchserve_nlp.bench.bench_stats import (
    error_counts,
    percentile,
    ratio,
    summarize_latencies,
    throughput,
)


def test_percentile_interpolates_between_closest_ranks():
    values = [40.0, 10.0, 30.0, 20.0]  # unsorted on purpose
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)  # rank 2.85 between 30 and 40


def test_percentile_of_one_value_is_that_value():
    assert percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("values, q", [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_refuses_what_it_cannot_answer(values, q):
    with pytest.raises(ValueError):
        percentile(values, q)


def test_summary_reports_milliseconds():
    summary = summarize_latencies([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert summary.count == 100
    assert summary.mean_ms == pytest.approx(50.5)
    assert summary.p50_ms == pytest.approx(50.5)
    assert summary.p95_ms == pytest.approx(95.05)
    assert summary.p99_ms == pytest.approx(99.01)
    assert summary.max_ms == pytest.approx(100.0)
    assert summary.as_dict()["p99_ms"] == summary.p99_ms


def test_summary_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no latencies"):
        summarize_latencies([])


def test_throughput_and_ratio_guard_against_zero():
    assert throughput(50, 2.0) == 25.0
    assert throughput(0, 0.0) == 0.0
    assert ratio(10.0, 40.0) == 0.25
    assert ratio(10.0, 0.0) is None


def test_error_counts_skip_successes_and_group_the_rest():
    outcomes = [200, 503, 200, 400, 503, "ConnectTimeout", 200]
    assert error_counts(outcomes) == {"400": 1, "503": 2, "ConnectTimeout": 1}
    assert error_counts([200, 200]) == {}
