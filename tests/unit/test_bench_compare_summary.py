"""One row per archive from hand-made rounds: medians, pooled percentiles, per-round ratios."""

import pytest

from torchserve_nlp.bench.compare_report import markdown_table
from torchserve_nlp.bench.compare_summary import RoundPhases, summarize
from torchserve_nlp.bench.phases import PhaseRun


def run(count: int, seconds: float, latencies_ms: list[float], statuses=None) -> PhaseRun:
    return PhaseRun(statuses or [200] * count, [ms / 1000 for ms in latencies_ms], seconds,
                    stopped_by_time_limit=False)


ROUNDS = {
    "fp32": [
        RoundPhases(run(100, 10, [10, 20]), run(100, 5, [40])),   # 10/s served, 20/s local
        RoundPhases(run(100, 20, [30, 40]), run(100, 10, [50])),  # 5/s, 10/s (a busy round)
        RoundPhases(run(100, 10, [50, 60]), run(100, 4, [60])),   # 10/s, 25/s
    ],
    "int8": [
        RoundPhases(run(100, 4, [1, 2]), run(100, 2, [10])),      # 25/s, 50/s
        RoundPhases(run(100, 10, [3, 4]), run(100, 4, [10])),     # 10/s, 25/s
        RoundPhases(run(100, 5, [5, 6]), run(100, 2, [10])),      # 20/s, 50/s
    ],
    "fp32_max_length": [
        RoundPhases(None, run(100, 10, [100])),                    # 10/s
        RoundPhases(None, run(100, 20, [100])),                    # 5/s
        RoundPhases(None, run(100, 10, [100, 200])),               # 10/s
    ],
}


def test_rows_keep_the_order_and_the_first_is_the_baseline():
    rows = summarize(ROUNDS)
    assert [row.name for row in rows] == ["fp32", "int8", "fp32_max_length"]
    assert rows[0].served_over_baseline == rows[0].in_process_over_baseline == 1.0


def test_throughputs_are_medians_over_rounds_and_ratios_medians_of_per_round_ratios():
    fp32, int8, _ = summarize(ROUNDS)
    assert fp32.served_per_s == 10.0 and fp32.served_per_s_range == (5.0, 10.0)
    assert fp32.in_process_per_s == 20.0
    assert int8.served_per_s == 20.0 and int8.in_process_per_s == 50.0
    # per round: 25/10, 10/5, 20/10 -> median 2.0 (the ratio of medians would also be 2.0)
    assert int8.served_over_baseline == pytest.approx(2.0)
    # per round: 50/20, 25/10, 50/25 -> 2.5, 2.5, 2.0
    assert int8.in_process_over_baseline == pytest.approx(2.5)
    # fp32 per round: 10/20, 5/10, 10/25 -> 0.5, 0.5, 0.4
    assert fp32.served_over_in_process == pytest.approx(0.5)


def test_latency_percentiles_pool_every_round():
    fp32 = summarize(ROUNDS)[0]
    assert fp32.served_p50_ms == pytest.approx(35.0)  # of 10, 20, 30, 40, 50, 60
    assert fp32.served_p99_ms == pytest.approx(59.5)
    assert fp32.in_process_p50_ms == pytest.approx(50.0)


def test_an_in_process_only_row_has_no_served_figures():
    row = summarize(ROUNDS)[2]
    assert row.served_per_s is None and row.served_p50_ms is None
    assert row.served_over_in_process is None and row.served_over_baseline is None
    assert row.in_process_per_s == 10.0
    assert row.in_process_over_baseline == pytest.approx(0.5)  # 10/20, 5/10, 10/25 -> 0.5


def test_errors_of_both_phases_and_all_rounds_are_added_up():
    failing = {
        "a": [RoundPhases(run(3, 1, [1, 1, 1], [200, 503, "ReadTimeout"]),
                          run(2, 1, [1], [200, 500]))] * 2,
    }
    assert summarize(failing)[0].errors == {"500": 2, "503": 2, "ReadTimeout": 2}


def test_archives_must_be_measured_in_as_many_rounds():
    with pytest.raises(ValueError, match="different numbers of rounds"):
        summarize({"a": ROUNDS["fp32"], "b": ROUNDS["int8"][:2]})


def test_the_table_has_one_line_per_archive_and_dashes_for_what_was_not_measured():
    table = markdown_table(summarize(ROUNDS), {"fp32_max_length": "fp32, max_length"})
    header, rule, *lines = table.splitlines()
    assert header.count("|") == rule.count("|") == lines[0].count("|")
    assert len(lines) == 3
    assert lines[1].startswith("| int8 | 20.0 (10.0–25.0) | 3.5 / 6.0 | 50.0 |")
    assert "2.00× | 2.50× | 0 |" in lines[1]
    assert lines[2].startswith("| fp32, max_length | — | — | 10.0 |")
