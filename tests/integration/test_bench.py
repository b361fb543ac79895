"""scripts/bench.py against the real TorchServe serving a tiny archive."""

import json
import subprocess
import sys

import pytest

from tests.tiny_archive import NAME, build_tiny_archive
from tests.torchserve_process import REPO_ROOT, torchserve

pytestmark = pytest.mark.integration
REQUESTS = 24


def test_bench_reports_every_request_and_compares_with_in_process(tmp_path):
    mar = build_tiny_archive(tmp_path / "build")
    texts = tmp_path / "texts.txt"
    texts.write_text("I love it\nnever again\n\nCafé naïve 中文 😀\nmeh\n", encoding="utf-8")
    figures_path = tmp_path / "bench.json"
    with torchserve(mar.parent, [f"{NAME}={mar.name}"], tmp_path / "ts") as server:
        completed = subprocess.run(
            [
                sys.executable, str(REPO_ROOT / "scripts" / "bench.py"),
                "--model", NAME, "--archive", str(mar), "--texts", str(texts),
                "--url", server.inference_url, "--concurrency", "4",
                "--requests", str(REQUESTS), "--warmup", "4", "--max-seconds", "120",
                "--json-out", str(figures_path),
            ],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    figures = json.loads(figures_path.read_text())
    server_figures, local = figures["server"], figures["in_process"]
    assert server_figures["requests"] == server_figures["ok"] == REQUESTS
    assert server_figures["errors"] == {}
    assert server_figures["latency_ms"]["count"] == REQUESTS
    assert local["texts"] == local["ok"] == REQUESTS
    assert local["batch_size"] == 4 and local["batches"] == REQUESTS // 4
    assert local["errors"] == {}
    expected_ratio = server_figures["requests_per_s"] / local["texts_per_s"]
    assert figures["server_over_in_process"] == pytest.approx(expected_ratio)
    assert "requests/s" in completed.stdout and "texts/s" in completed.stdout
