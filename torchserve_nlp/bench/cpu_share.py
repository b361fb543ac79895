"""Whose CPU a served phase used. On one machine the load generator (this process),
TorchServe's Java frontend and its Python workers share the cores, so a served archive gets
its in-process throughput scaled by the workers' share of them (docs/benchmarks.md, "The
frontend's share of the cores")."""

import time
from collections.abc import Mapping

import psutil

LOAD_GENERATOR = "load_generator"
FRONTEND = "frontend"
WORKERS = "workers"
IN_PROCESS = "in_process"


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class CpuMeter:
    """The CPU seconds used so far by this process and, given its pid, a TorchServe frontend
    and every process under it (its workers). A worker that exits between two readings takes
    its time with it: a phase with a worker restart under-counts the workers."""

    def __init__(self, frontend_pid: int | None = None) -> None:
        self._frontend = None if frontend_pid is None else psutil.Process(frontend_pid)

    def read(self) -> dict[str, float]:
        # Other processes' times come in clock ticks (10 ms); this one's to the nanosecond.
        used = {LOAD_GENERATOR: time.process_time()}
        if self._frontend is None:
            return used
        try:
            used[FRONTEND] = cpu_seconds(self._frontend)
            used[WORKERS] = sum(_alive_seconds(p) for p in self._frontend.children(True))
        except psutil.Error:  # the server went away: its figures are unknown, not zero
            used.pop(FRONTEND, None)
        return used


def _alive_seconds(process: psutil.Process) -> float:
    try:
        return cpu_seconds(process)
    except psutil.Error:
        return 0.0


def per_request_ms(
    before: Mapping[str, float], after: Mapping[str, float], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per request for each part read at both ends; empty for no
    requests."""
    if requests <= 0:
        return {}
    return {
        part: (after[part] - before[part]) * 1000 / requests
        for part in before if part in after
    }
