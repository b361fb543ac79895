"""A bounded soak of one archive: serve it on a private TorchServe (free loopback ports, a
given config.properties as the base), POST texts at a fixed concurrency for a fixed time, and
report errors by status, latency percentiles, and the resident memory (RSS) of the model's
workers and of the Java frontend at the start and the end of the load.

RSS is read from ``/proc/<pid>/status`` (Linux); the workers' pids come from the management
API's model description. A worker pid that changes during the run is a worker TorchServe
restarted, and the report says so.
"""

import itertools
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from torchserve_nlp.bench import bench_stats
from torchserve_nlp.bench.http_load import TEXT_CONTENT_TYPE, HttpOutcome, KeepAliveClient
from torchserve_nlp.serving import torchserve as ts
from torchserve_nlp.serving.torchserve import address, free_port

logger = logging.getLogger(__name__)

STARTUP_SECONDS = 300
STOP_GRACE_SECONDS = 30
KIB_PER_MIB = 1024


@dataclass(frozen=True)
class SoakConfig:
    archive: Path
    texts: Sequence[str]  # cycled
    seconds: float = 120
    concurrency: int = 32
    model: str | None = None  # None: the archive's file name without .mar
    base_config: Path | None = None  # its lines, with the soak's ports and store substituted
    work_dir: Path | None = None  # logs and config; None: a temporary folder, removed after
    timeout_s: float = 60
    warmup: int | None = None  # unmeasured requests first; None: two per client
    content_type: str = TEXT_CONTENT_TYPE
    sample_every_s: float = 1.0

    @property
    def model_name(self) -> str:
        return self.model or self.archive.name.removesuffix(".mar")

    @property
    def warmup_requests(self) -> int:
        return 2 * self.concurrency if self.warmup is None else self.warmup


@dataclass(frozen=True)
class Memory:
    """RSS in MiB of one kind of process (the workers summed) over the measured load."""

    start_mib: float
    end_mib: float
    peak_mib: float

    @property
    def growth_mib(self) -> float:
        return self.end_mib - self.start_mib


@dataclass(frozen=True)
class Sample:
    at_s: float  # since the watch started
    worker_pids: tuple[int, ...]
    worker_mib: float
    frontend_mib: float


@dataclass(frozen=True)
class SoakResult:
    model: str
    seconds: float
    concurrency: int
    texts: int
    warmup: int
    warmup_errors: dict[str, int]
    requests: int
    ok: int
    errors: dict[str, int]
    elapsed_s: float
    requests_per_s: float
    latency_ms: bench_stats.LatencySummary | None
    frontend_pid: int
    samples: tuple[Sample, ...]  # every ``sample_every_s`` from the start of the load

    def memory(self, field: str) -> Memory:
        values = [getattr(sample, field) for sample in self.samples]
        return Memory(values[0], values[-1], max(values))

    @property
    def worker(self) -> Memory:
        return self.memory("worker_mib")

    @property
    def frontend(self) -> Memory:
        return self.memory("frontend_mib")

    @property
    def worker_pids(self) -> tuple[int, ...]:
        """Every worker pid seen, in order: more than at the start means restarts."""
        return tuple(dict.fromkeys(pid for s in self.samples for pid in s.worker_pids))

    @property
    def worker_restarts(self) -> int:
        return len(self.worker_pids) - len(self.samples[0].worker_pids)

    @property
    def failed(self) -> bool:
        return bool(self.errors) or self.worker_restarts > 0 or self.ok == 0

    def as_dict(self) -> dict:
        return {**asdict(self), "worker": asdict(self.worker),
                "frontend": asdict(self.frontend), "worker_pids": self.worker_pids,
                "worker_restarts": self.worker_restarts}


# --------------------------------------------------------------------------- processes


def rss_mib(pid: int) -> float | None:
    """The resident set size of process ``pid`` in MiB; None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / KIB_PER_MIB
    except (OSError, ValueError, IndexError):
        return None
    return None


def worker_pids(management_url: str, model: str) -> tuple[int, ...]:
    """The pids of ``model``'s workers, as the management API describes them."""
    response = requests.get(f"{management_url}/models/{model}", timeout=10)
    response.raise_for_status()
    return tuple(sorted(w["pid"] for w in response.json()[0]["workers"] if w.get("pid", 0) > 0))


class MemoryWatch:
    """Samples the workers' and the frontend's RSS every ``every`` seconds in a thread."""

    def __init__(self, management_url: str, model: str, frontend: int, every: float) -> None:
        self.management_url, self.model, self.frontend = management_url, model, frontend
        self.every, self.samples, self.started = every, [], time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-memory", daemon=True)

    def sample(self) -> Sample | None:
        try:
            pids = worker_pids(self.management_url, self.model)
        except (requests.RequestException, ValueError, LookupError) as error:
            logger.warning("could not list %s's workers: %s", self.model, error)
            return None
        rss = sum(rss_mib(pid) or 0.0 for pid in pids)
        at = round(time.monotonic() - self.started, 2)
        sample = Sample(at, pids, rss, rss_mib(self.frontend) or 0.0)
        self.samples.append(sample)
        return sample

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> "MemoryWatch":
        if self.sample() is None:
            raise RuntimeError(f"no worker of {self.model} to measure")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


# ------------------------------------------------------------------------------ server


@dataclass(frozen=True)
class Served:
    inference_url: str
    management_url: str
    frontend: int


@contextmanager
def private_server(config: SoakConfig, work_dir: Path) -> Iterator[Served]:
    """TorchServe serving only ``config.archive`` (linked into its own store), on free
    loopback ports, without token authorization (its clients are the soak's), until exit."""
    store = work_dir / "model_store"
    store.mkdir(parents=True, exist_ok=True)
    (link := store / config.archive.name).unlink(missing_ok=True)
    link.symlink_to(config.archive.resolve())
    ports = [free_port() for _ in range(3)]
    settings = {
        "inference_address": address(ports[0]), "management_address": address(ports[1]),
        "metrics_address": address(ports[2]), "grpc_inference_port": free_port(),
        "grpc_management_port": free_port(), "initial_worker_port": free_port(),
        "model_store": str(store), "disable_token_authorization": "true",
    }
    launch = ts.Launch(
        config=ts.write_config(work_dir / "config.properties", settings, base=config.base_config),
        model_store=store, models=(f"{config.model_name}={config.archive.name}",),
        work_dir=work_dir, log_dir=work_dir / "logs", pid_dir=work_dir,
    )
    with open(work_dir / "torchserve.out", "wb") as output:
        launcher = ts.start(launch, os.environ, output)
        try:
            management = address(ports[1])
            ts.wait_until_ready(management, STARTUP_SECONDS, [config.model_name], launcher)
            frontend = ts.frontend_pid(launch.pid_file, launcher.pid)
            if frontend is None:
                raise RuntimeError(f"no TorchServe frontend pid in {launch.pid_file}")
            yield Served(address(ports[0]), management, frontend)
        finally:
            ts.stop(launcher, STOP_GRACE_SECONDS, launch.pid_file)


# -------------------------------------------------------------------------------- load


def hammer(
    url: str, texts: Sequence[str], concurrency: int, seconds: float, timeout_s: float,
    content_type: str = TEXT_CONTENT_TYPE, limit: int | None = None,
) -> tuple[list[HttpOutcome], float]:
    """``concurrency`` clients, each POSTing one text after another (cycled) until
    ``seconds`` have passed or ``limit`` requests have started. Outcomes and elapsed time."""
    deadline = time.monotonic() + seconds
    indices, lock, outcomes, interrupted = itertools.count(), threading.Lock(), [], False

    def client() -> None:
        with KeepAliveClient(url, timeout_s) as http_client:
            while time.monotonic() < deadline and not interrupted:
                with lock:
                    index = next(indices)
                if limit is not None and index >= limit:
                    return
                outcome = http_client.post(texts[index % len(texts)].encode("utf-8"),
                                           content_type)
                with lock:
                    outcomes.append(outcome)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="soak") as pool:
        try:
            for future in [pool.submit(client) for _ in range(concurrency)]:
                future.result()
        except BaseException:  # Ctrl-C: the clients stop after their request in flight
            interrupted = True
            raise
    return outcomes, time.perf_counter() - started


def run_soak(config: SoakConfig) -> SoakResult:
    if not config.texts:
        raise ValueError("no texts to send")
    work_dir = config.work_dir or Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        with private_server(config, work_dir) as served:
            url = f"{served.inference_url}/predictions/{config.model_name}"
            warmup, _ = hammer(url, config.texts, config.concurrency, STARTUP_SECONDS,
                               config.timeout_s, config.content_type, config.warmup_requests)
            logger.info("soaking %s for %.0f s at concurrency %d", url, config.seconds,
                        config.concurrency)
            watch = MemoryWatch(served.management_url, config.model_name, served.frontend,
                                config.sample_every_s)
            with watch:
                outcomes, elapsed = hammer(url, config.texts, config.concurrency,
                                           config.seconds, config.timeout_s, config.content_type)
    finally:
        if config.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    statuses = [outcome.outcome for outcome in outcomes]
    latencies = [outcome.latency_s for outcome in outcomes]
    return SoakResult(
        model=config.model_name, seconds=config.seconds, concurrency=config.concurrency,
        texts=len(config.texts), warmup=len(warmup),
        warmup_errors=bench_stats.error_counts(o.outcome for o in warmup), requests=len(outcomes),
        ok=statuses.count(200), errors=bench_stats.error_counts(statuses), elapsed_s=elapsed,
        requests_per_s=bench_stats.throughput(len(outcomes), elapsed),
        latency_ms=bench_stats.summarize_latencies(latencies) if latencies else None,
        frontend_pid=served.frontend, samples=tuple(watch.samples),
    )
