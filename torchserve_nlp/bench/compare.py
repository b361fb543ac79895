"""Several archives benchmarked side by side: in every round, each archive in turn (the order
rotated by one per round) gets its HTTP phase against the one server that serves them all,
then its in-process phase. A ``max_length`` contender is in-process only: the archive's own
tokenizer and forward with every text padded to ``max_length``, the seed handler's way."""

import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from torchserve_nlp.bench.compare_server import RunningServer, check_answers, serve_archives
from torchserve_nlp.bench.compare_summary import RoundPhases
from torchserve_nlp.bench.cpu_share import CpuMeter
from torchserve_nlp.bench.http_load import TEXT_CONTENT_TYPE, post_texts
from torchserve_nlp.bench.padded_forward import run_padded
from torchserve_nlp.bench.phases import cycled, run_http, run_in_process
from torchserve_nlp.bench.round_stats import rotated

logger = logging.getLogger(__name__)

SERVED = "served"
MAX_LENGTH = "max_length"


@dataclass(frozen=True)
class Contender:
    name: str  # the model name it is served as, and its row's name
    archive: Path
    way: str = SERVED  # SERVED: HTTP and handler in-process; MAX_LENGTH: in-process only

    @property
    def served(self) -> bool:
        return self.way == SERVED


@dataclass(frozen=True)
class CompareConfig:
    contenders: tuple[Contender, ...]  # the first is the baseline of every ratio
    texts: tuple[str, ...]  # request bodies, cycled
    rounds: int = 3
    concurrency: int = 16
    requests: int = 400  # measured per phase and round
    warmup: int = 32  # unmeasured, before each phase
    # Unmeasured, before the first round, spread over the served archives: the frontend's JIT
    # compiles its request path over the first several hundred requests (docs/benchmarks.md).
    server_warmup: int = 800
    max_seconds: float = 300  # per phase
    timeout_s: float = 60
    batch_size: int | None = None  # in-process; None: each archive's batchSize
    content_type: str = TEXT_CONTENT_TYPE
    url: str | None = None  # a running server's inference address; None: start one
    base_config: Path | None = None  # config.properties lines for the private server
    work_dir: Path | None = None  # the private server's files; None: a temporary folder

    def __post_init__(self) -> None:
        if not self.contenders:
            raise ValueError("nothing to compare: give at least one archive")
        names = [contender.name for contender in self.contenders]
        if len(set(names)) != len(names):
            raise ValueError(f"archive names must differ, got {names}")
        if not self.contenders[0].served:
            raise ValueError("the baseline (first) archive must be served, not in-process only")
        if not self.texts:
            raise ValueError("no texts to send")
        if min(self.rounds, self.concurrency, self.requests) < 1:
            raise ValueError("rounds, concurrency and requests must be >= 1")
        if min(self.warmup, self.server_warmup) < 0:
            raise ValueError("warmup and server_warmup must be >= 0")

    @property
    def served_archives(self) -> dict[str, Path]:
        return {c.name: c.archive for c in self.contenders if c.served}

    def predictions_url(self, inference_url: str, name: str) -> str:
        return f"{inference_url.rstrip('/')}/predictions/{name}"


@contextmanager
def inference_address(config: CompareConfig) -> Iterator[RunningServer]:
    """The running server's address (its frontend unknown), or a private server's for the
    duration of the block."""
    if config.url is not None:
        yield RunningServer(config.url, None)
        return
    work_dir = config.work_dir or Path(tempfile.mkdtemp(prefix="bench-compare-"))
    try:
        with serve_archives(config.served_archives, work_dir, config.base_config) as server:
            yield server
    finally:
        if config.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)


def measure(
    config: CompareConfig, contender: Contender, inference_url: str, label: str,
    meter: CpuMeter | None = None,
) -> RoundPhases:
    warmup = cycled(config.texts, config.warmup)
    measured = cycled(config.texts, config.requests, start=config.warmup)
    if not contender.served:
        local = run_padded(contender.archive, warmup, measured,
                           config.batch_size, config.max_seconds, MAX_LENGTH, label)
        return RoundPhases(None, local)
    served = run_http(
        config.predictions_url(inference_url, contender.name), warmup, measured,
        config.concurrency, config.max_seconds, config.timeout_s, config.content_type,
        f"{label} HTTP", meter,
    )
    local = run_in_process(contender.archive, warmup, measured,
                           config.batch_size, config.max_seconds, config.content_type,
                           f"{label} in-process")
    return RoundPhases(served, local)


def warm_up_server(config: CompareConfig, inference_url: str) -> None:
    """``config.server_warmup`` requests, unmeasured, shared among the served archives."""
    served = [contender for contender in config.contenders if contender.served]
    share = math.ceil(config.server_warmup / len(served))
    if share == 0:
        return
    for contender in served:
        post_texts(config.predictions_url(inference_url, contender.name),
                   cycled(config.texts, share), config.concurrency, config.max_seconds,
                   config.timeout_s, f"server warm-up {contender.name}", config.content_type)


def run_compare(config: CompareConfig) -> dict[str, list[RoundPhases]]:
    """Every contender's phases, round by round: ``{name: [round 0, round 1, ...]}``."""
    missing = [str(c.archive) for c in config.contenders if not c.archive.is_file()]
    if missing:
        raise FileNotFoundError(f"no such archive: {missing}; build it or fix the path")
    # As in phases.run_in_process, and set before any archive loads in this process.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    figures: dict[str, list[RoundPhases]] = {c.name: [] for c in config.contenders}
    with inference_address(config) as server:
        url, meter = server.inference_url, CpuMeter(server.frontend_pid)
        for contender in config.contenders:
            if contender.served:
                check_answers(config.predictions_url(url, contender.name), config.texts[0],
                              config.content_type, config.timeout_s)
        warm_up_server(config, url)
        for round_index in range(config.rounds):
            order = rotated(config.contenders, round_index)
            logger.info("round %d of %d: %s", round_index + 1, config.rounds,
                        ", ".join(c.name for c in order))
            for contender in order:
                label = f"{round_index + 1}/{config.rounds} {contender.name}"
                figures[contender.name].append(measure(config, contender, url, label, meter))
    return figures
