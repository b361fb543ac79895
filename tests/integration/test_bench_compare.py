"""scripts/bench.py --compare: two names for a tiny archive on the TorchServe it starts."""

import json
import subprocess
import sys
import urllib.request

import pytest

from tests.tiny_archive import build_tiny_archive
from tests.torchserve_process import REPO_ROOT
from torchserve_nlp.serving.torchserve import address, free_port

pytestmark = pytest.mark.integration
REQUESTS, ROUNDS, WARMUP, SERVER_WARMUP = 8, 2, 4, 6
BENCH = str(REPO_ROOT / "scripts" / "bench.py")


def test_compare_measures_every_archive_in_every_round_on_its_own_server(tmp_path):
    mar = build_tiny_archive(tmp_path / "build")
    texts = tmp_path / "texts.txt"
    texts.write_text("I love it\nnever again\nCafé naïve 中文 😀\nmeh\n", encoding="utf-8")
    figures_path, table_path = tmp_path / "compare.json", tmp_path / "compare.md"
    completed = subprocess.run(
        [
            sys.executable, BENCH, "--compare", f"first={mar}", f"second={mar}",
            "--texts", str(texts), "--rounds", str(ROUNDS), "--requests", str(REQUESTS),
            "--warmup", str(WARMUP), "--server-warmup", str(SERVER_WARMUP), "--concurrency", "2",
            "--work-dir", str(tmp_path / "ts"),
            "--json-out", str(figures_path), "--markdown-out", str(table_path),
        ],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    figures = json.loads(figures_path.read_text())
    assert [row["name"] for row in figures["archives"]] == ["first", "second"]
    assert figures["baseline"] == "first"
    for name in ("first", "second"):
        rounds = figures["rounds"][name]
        assert len(rounds) == ROUNDS
        assert all(r["served"]["count"] == r["in_process"]["count"] == REQUESTS for r in rounds)
        assert all(r["served"]["errors"] == r["in_process"]["errors"] == {} for r in rounds)
    for row in figures["archives"]:  # the private server's processes, each read
        assert set(row["served_cpu_ms"]) == {"load_generator", "frontend", "workers"}
        cpu = row["served_cpu_ms"]
        # The other processes' times come in 10 ms ticks: a tiny phase may read 0 for one.
        assert min(cpu.values()) >= 0 and cpu["workers"] + cpu["frontend"] > 0
        assert cpu["load_generator"] > 0 and row["in_process_cpu_ms"]["in_process"] > 0
    first = figures["archives"][0]
    assert first["served_over_baseline"] == first["in_process_over_baseline"] == 1.0
    assert first["served_per_s"] > 0 and first["in_process_per_s"] > 0
    table = table_path.read_text()
    assert table in completed.stdout + "\n"
    assert "| first |" in table and "| second |" in table
    assert "| archive | load generator | frontend | workers |" in table
    # Each name: one answer checked, its share of the server warm-up, then every round's
    # warm-up and measured requests.
    access = (tmp_path / "ts" / "logs" / "access_log.log").read_text()
    for name in ("first", "second"):
        posts = access.count(f'"POST /predictions/{name} HTTP/1.1" 200')
        assert posts == 1 + SERVER_WARMUP // 2 + ROUNDS * (WARMUP + REQUESTS)
    config = (tmp_path / "ts" / "config.properties").read_text()
    assert "vmargs=-XX:TieredStopAtLevel=1" in config.splitlines()
    # The private server is gone: its inference port no longer answers.
    inference = next(line.split("=", 1)[1] for line in config.splitlines()
                     if line.startswith("inference_address="))
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{inference}/ping", timeout=5)


def test_a_url_where_nothing_answers_is_a_clear_error(tmp_path):
    mar = build_tiny_archive(tmp_path / "build")
    texts = tmp_path / "texts.txt"
    texts.write_text("I love it\n", encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, BENCH, "--compare", f"tiny={mar}", "--texts", str(texts),
         "--url", address(free_port())],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert completed.returncode != 0
    assert "nothing answers at" in completed.stderr
    assert "leave out --url" in completed.stderr
