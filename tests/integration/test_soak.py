"""scripts/soak.py (``make soak``) for 5 seconds at concurrency 4 against a tiny archive: the
report it prints holds real figures, and its server is gone when it returns."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_archive import NAME, build_tiny_archive
from tests.torchserve_process import REPO_ROOT

pytestmark = pytest.mark.integration

SECONDS, CONCURRENCY = 5, 4
REPORT = re.compile(
    r"soak (?P<model>\w+): 5 s at concurrency 4, 3 texts cycled, 8 warm-up requests excluded\n"
    r"requests: (?P<requests>\d+) in (?P<elapsed>[\d.]+) s \((?P<rate>[\d.]+)/s\), "
    r"ok (?P<ok>\d+)\n"
    r"errors: (?P<errors>.+)\n"
    r"latency ms: p50 (?P<p50>[\d.]+)  p99 (?P<p99>[\d.]+)  \(mean [\d.]+, max [\d.]+\)\n"
    r"worker RSS MiB: start (?P<worker_start>[\d.]+)  end (?P<worker_end>[\d.]+)  "
    r"peak [\d.]+  \([+-][\d.]+; pid (?P<worker_pid>\d+)\)\n"
    r"frontend RSS MiB: start (?P<frontend_start>[\d.]+)  end (?P<frontend_end>[\d.]+)  "
    r"peak [\d.]+  \([+-][\d.]+; pid (?P<frontend_pid>\d+)\)\n"
    r"worker restarts: (?P<restarts>\d+)\n$"
)


def test_a_short_soak_reports_requests_latency_and_memory(tmp_path):
    mar = build_tiny_archive(tmp_path / "build")
    texts = tmp_path / "texts.txt"
    texts.write_text("I love it\n\nnever again\nCafé naïve 中文 😀\n", encoding="utf-8")
    figures_path = tmp_path / "soak.json"
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "soak.py"), "--archive", str(mar),
         "--texts", str(texts), "--seconds", str(SECONDS), "--concurrency", str(CONCURRENCY),
         "--work-dir", str(tmp_path / "soak"), "--json-out", str(figures_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    printed = REPORT.fullmatch(completed.stdout)
    assert printed, completed.stdout
    figures = json.loads(figures_path.read_text())

    assert printed["model"] == figures["model"] == NAME
    assert int(printed["requests"]) == int(printed["ok"]) == figures["requests"] > CONCURRENCY
    assert printed["errors"] == "none" and figures["errors"] == {}
    assert figures["warmup_errors"] == {} and figures["worker_restarts"] == 0
    assert SECONDS <= float(printed["elapsed"]) < SECONDS + 60
    latency = figures["latency_ms"]
    assert latency["count"] == figures["requests"]
    assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert float(printed["p50"]) == pytest.approx(latency["p50_ms"], abs=0.05)
    # A Python worker that imported torch, and the JVM, are each well over 50 MiB resident.
    for process in ("worker", "frontend"):
        assert float(printed[f"{process}_start"]) > 50 and float(printed[f"{process}_end"]) > 50
        assert figures[process]["start_mib"] == pytest.approx(
            float(printed[f"{process}_start"]), abs=0.05)
    samples = figures["samples"]
    assert len(samples) >= SECONDS and samples[-1]["at_s"] >= SECONDS
    assert {tuple(s["worker_pids"]) for s in samples} == {(int(printed["worker_pid"]),)}
    assert figures["worker_pids"] == [int(printed["worker_pid"])]
    assert int(printed["frontend_pid"]) == figures["frontend_pid"]

    # Its server was stopped: neither the frontend nor the worker is left.
    for pid in (figures["frontend_pid"], *figures["worker_pids"]):
        assert not Path(f"/proc/{pid}").exists(), pid
    assert (tmp_path / "soak" / "logs" / "ts_log.log").is_file()
