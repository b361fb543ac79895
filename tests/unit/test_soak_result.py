"""The soak's figures without a server: RSS from /proc, restarts from the worker pids seen,
and the report's error and memory lines (tests/integration/test_soak.py runs it for real)."""

import os
import subprocess
import sys

from scripts.soak import report
from torchserve_nlp.bench.bench_stats import summarize_latencies
from torchserve_nlp.bench.soak import Sample, SoakResult, rss_mib


def result(samples: list[Sample], errors: dict[str, int]) -> SoakResult:
    return SoakResult(
        model="m", seconds=3, concurrency=2, texts=5, warmup=4, warmup_errors={},
        requests=10, ok=10 - sum(errors.values()), errors=errors, elapsed_s=3.2,
        requests_per_s=3.125, latency_ms=summarize_latencies([0.1, 0.2, 0.3]),
        frontend_pid=7, samples=tuple(samples),
    )


def test_rss_is_read_from_proc_and_none_for_a_finished_process():
    assert rss_mib(os.getpid()) > 10  # this interpreter, with pytest loaded
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    assert rss_mib(int(finished.stdout)) is None


def test_a_changed_worker_pid_is_a_restart_and_fails_the_soak():
    steady = result([Sample(0, (11,), 400, 200), Sample(1, (11,), 420, 190),
                     Sample(2, (11,), 410, 210)], {})
    assert (steady.worker.start_mib, steady.worker.end_mib, steady.worker.peak_mib) == (
        400, 410, 420)
    assert steady.frontend.growth_mib == 10
    assert steady.worker_pids == (11,) and steady.worker_restarts == 0 and not steady.failed

    restarted = result([Sample(0, (11,), 400, 200), Sample(1, (), 0, 200),
                        Sample(2, (12,), 300, 200)], {"507": 2})
    assert restarted.worker_pids == (11, 12) and restarted.worker_restarts == 1
    assert restarted.failed
    assert restarted.as_dict()["worker_restarts"] == 1


def test_report_lines():
    lines = report(result([Sample(0, (11,), 400, 200), Sample(1, (12,), 300.25, 210)],
                          {"507": 2, "ReadTimeout": 1})).splitlines()
    assert lines == [
        "soak m: 3 s at concurrency 2, 5 texts cycled, 4 warm-up requests excluded",
        "requests: 10 in 3.2 s (3.1/s), ok 7",
        "errors: 2 x 507, 1 x ReadTimeout",
        "latency ms: p50 200.0  p99 298.0  (mean 200.0, max 300.0)",
        "worker RSS MiB: start 400.0  end 300.2  peak 400.0  (-99.8; pid 12)",
        "frontend RSS MiB: start 200.0  end 210.0  peak 210.0  (+10.0; pid 7)",
        "worker restarts: 1",
    ]
