"""Whose CPU a served phase used: the arithmetic, and a meter reading a real process tree (a
"frontend" that starts a busy "worker")."""

import subprocess
import sys
import time

import pytest

from torchserve_nlp.bench.compare_report import cpu_table
from torchserve_nlp.bench.compare_summary import ArchiveRow, median_cpu_ms
from torchserve_nlp.bench.cpu_share import (
    FRONTEND,
    IN_PROCESS,
    LOAD_GENERATOR,
    WORKERS,
    CpuMeter,
    per_request_ms,
)
from torchserve_nlp.bench.phases import PhaseRun

BUSY_CHILD = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass"
FRONTEND_SCRIPT = (
    "import subprocess, sys\n"
    f"subprocess.run([sys.executable, '-c', {BUSY_CHILD!r}])\n"
    "sys.stdin.read()\n"
)


def test_per_request_ms_is_each_parts_difference_over_the_requests() -> None:
    before = {LOAD_GENERATOR: 1.0, FRONTEND: 2.0, WORKERS: 10.0}
    after = {LOAD_GENERATOR: 1.2, FRONTEND: 2.1, WORKERS: 14.0}
    assert per_request_ms(before, after, 400) == pytest.approx(
        {LOAD_GENERATOR: 0.5, FRONTEND: 0.25, WORKERS: 10.0})
    assert per_request_ms(before, {LOAD_GENERATOR: 2.0}, 10) == pytest.approx(
        {LOAD_GENERATOR: 100.0})
    assert per_request_ms(before, after, 0) == {}


def test_the_meter_without_a_frontend_reads_only_this_process() -> None:
    meter = CpuMeter()
    first = meter.read()
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    second = meter.read()
    assert set(first) == set(second) == {LOAD_GENERATOR}
    assert second[LOAD_GENERATOR] - first[LOAD_GENERATOR] >= 0.19


def test_the_meter_counts_the_frontends_children_as_workers() -> None:
    frontend = subprocess.Popen([sys.executable, "-c", FRONTEND_SCRIPT], stdin=subprocess.PIPE)
    try:
        meter = CpuMeter(frontend.pid)
        before = meter.read()
        assert set(before) == {LOAD_GENERATOR, FRONTEND, WORKERS}
        readings = [before]
        deadline = time.monotonic() + 20
        while readings[-1][WORKERS] - before[WORKERS] < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
            readings.append(meter.read())
        assert readings[-1][WORKERS] - before[WORKERS] >= 0.3  # the busy child, while alive
        assert readings[-1][FRONTEND] - before[FRONTEND] < 0.3  # the frontend only waits
    finally:
        frontend.communicate(b"", timeout=30)
    gone = meter.read()
    assert set(gone) == {LOAD_GENERATOR}  # a server that went away is unknown, not zero


def phase(cpu: dict[str, float]) -> PhaseRun:
    return PhaseRun([200], [0.01], 1.0, False, cpu_ms=cpu)


def test_median_cpu_takes_each_parts_median_over_the_rounds_that_measured_it() -> None:
    runs = [phase({WORKERS: 10.0, FRONTEND: 1.0}), phase({WORKERS: 14.0}),
            phase({WORKERS: 11.0, FRONTEND: 3.0}), None]
    assert median_cpu_ms(runs) == {WORKERS: 11.0, FRONTEND: 2.0}
    assert median_cpu_ms([None, phase({})]) == {}


def row(name: str, served: dict[str, float], local: dict[str, float]) -> ArchiveRow:
    return ArchiveRow(name, 3, 100.0, (90.0, 110.0), 1.0, 2.0, 120.0, 1.0, 2.0, 0.8, 1.0, 1.0,
                      {}, False, served, local)


def test_the_cpu_table_adds_the_parts_and_compares_workers_with_in_process() -> None:
    rows = [row("fp32", {LOAD_GENERATOR: 0.25, FRONTEND: 0.5, WORKERS: 12.0},
                {IN_PROCESS: 10.0}),
            row("remote", {LOAD_GENERATOR: 0.25}, {IN_PROCESS: 8.0}),
            row("padded", {}, {IN_PROCESS: 30.0})]
    lines = cpu_table(rows).splitlines()
    assert lines[2] == "| fp32 | 0.25 | 0.50 | 12.00 | 12.75 | 10.00 | 1.20 |"
    assert lines[3] == "| remote | 0.25 | — | — | — | 8.00 | — |"
    assert len(lines) == 4  # no served CPU, no line
    assert cpu_table([rows[2]]) == ""
