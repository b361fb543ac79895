"""The two measurements every benchmark makes of an archive: requests POSTed to a server at a
fixed concurrency, and the same bodies through the same .mar in-process in batches of the
batch size it is served with. Each returns a ``PhaseRun`` of raw outcomes and latencies, so
that a caller can pool latencies over rounds before taking percentiles."""

import math
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from torchserve_nlp.bench.bench_stats import error_counts, throughput
from torchserve_nlp.bench.cpu_share import IN_PROCESS, CpuMeter, per_request_ms
from torchserve_nlp.bench.http_load import TEXT_CONTENT_TYPE, post_texts
from torchserve_nlp.serving.local_archive import LocalArchive, LocalRequest

JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class PhaseRun:
    """One timed phase. ``latencies_s`` holds one value per request (HTTP) or per batch
    (in-process); ``statuses`` one per body: a status code, or an exception's name."""

    statuses: list[int | str]
    latencies_s: list[float]
    elapsed_s: float
    stopped_by_time_limit: bool
    batch_size: int = 1
    # CPU milliseconds per request (HTTP: load generator, frontend, workers) or per text
    # (in-process), as cpu_share reads them.
    cpu_ms: dict[str, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.statuses)

    @property
    def ok(self) -> int:
        return self.statuses.count(200)

    @property
    def errors(self) -> dict[str, int]:
        return error_counts(self.statuses)

    @property
    def per_second(self) -> float:
        return throughput(self.count, self.elapsed_s)


def read_texts(path: Path) -> list[str]:
    """The non-empty lines of ``path``: one request body each."""
    texts = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise SystemExit(f"{path} holds no non-empty line; put one text per line")
    return texts


def cycled(texts: Sequence[str], count: int, start: int = 0) -> list[str]:
    return [texts[(start + i) % len(texts)] for i in range(count)]


def batches(
    texts: Sequence[str], size: int, content_type: str = TEXT_CONTENT_TYPE
) -> Iterator[list[LocalRequest]]:
    for start in range(0, len(texts), size):
        yield [LocalRequest(text, content_type) for text in texts[start : start + size]]


def run_http(
    url: str, warmup: Sequence[str], measured: Sequence[str], concurrency: int,
    max_seconds: float, timeout_s: float, content_type: str = TEXT_CONTENT_TYPE,
    label: str = "HTTP", meter: CpuMeter | None = None,
) -> PhaseRun:
    """POST ``warmup`` (unmeasured), then ``measured``, each from ``concurrency`` clients;
    ``meter`` reads whose CPU the measured requests used."""
    if warmup:
        post_texts(url, warmup, concurrency, max_seconds, timeout_s, f"{label} warm-up",
                   content_type)
    meter = meter or CpuMeter()
    before = meter.read()
    result = post_texts(url, measured, concurrency, max_seconds, timeout_s, label, content_type)
    return PhaseRun(
        statuses=[item.outcome for item in result.outcomes],
        latencies_s=[item.latency_s for item in result.outcomes],
        elapsed_s=result.elapsed_s, stopped_by_time_limit=result.stopped_by_deadline,
        cpu_ms=per_request_ms(before, meter.read(), len(result.outcomes)),
    )


def run_in_process(
    archive_path: Path, warmup: Sequence[str], measured: Sequence[str],
    batch_size: int | None, max_seconds: float, content_type: str = TEXT_CONTENT_TYPE,
    label: str = "in-process",
) -> PhaseRun:
    """The bodies through ``archive_path``'s handler, loaded as a worker loads it, in batches
    of ``batch_size`` (default: the archive's batchSize). Loading is not timed."""
    # In one process with torch, the HF tokenizers' own thread pool fights torch's OpenMP
    # threads (QA in-process: 21.8 texts/s with it, 29.1 without). TorchServe's worker showed
    # no such effect (27.5 vs 28.6 req/s), so the baseline runs without that pool.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as work_dir,
        LocalArchive.open(archive_path, work_dir, batch_size) as archive,
    ):
        size = archive.batch_size
        for batch in batches(warmup or measured[:size], size, content_type):
            archive.handle(batch)
        deadline = time.monotonic() + max_seconds
        latencies, statuses = [], []
        cpu_before = {IN_PROCESS: time.process_time()}
        start = time.perf_counter()
        for batch in tqdm(batches(measured, size, content_type), desc=label, unit="batch",
                          total=math.ceil(len(measured) / size), disable=None, leave=False):
            if time.monotonic() >= deadline:
                break
            batch_start = time.perf_counter()
            responses = archive.handle(batch)
            latencies.append(time.perf_counter() - batch_start)
            statuses += [response.status for response in responses]
        elapsed = time.perf_counter() - start
        cpu = per_request_ms(cpu_before, {IN_PROCESS: time.process_time()}, len(statuses))
    return PhaseRun(statuses, latencies, elapsed, len(statuses) < len(measured), size, cpu)
