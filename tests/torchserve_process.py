"""Start the real TorchServe on free loopback ports, talk HTTP to it, always stop it.

The test side of ``torchserve_nlp.serving.torchserve``: the repository's config.properties
with per-test ports, and ``RunningServer``'s HTTP helpers and log readers."""

import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from torchserve_nlp.serving.torchserve import (
    Launch,
    NotReady,
    ServerExited,
    address,
    free_port,
    start,
    stop,
    wait_until_ready,
    write_config,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 180
STOP_GRACE_SECONDS = 20
# TorchServe's worker (ts/service.py, Service.predict) emits this metric once per batch it
# predicted, with the ids of all the batch's requests; the frontend logs it to ts_log.log
# (metrics_mode prometheus, as config.properties sets) or model_metrics.log (mode log).
PREDICTION_TIME = re.compile(
    r"PredictionTime\.\w+:[\d.]+\|#[^|]*\|#type:\w+\|#hostname:[^,]*,\d+,(?P<ids>[\w,-]+)"
)
METRIC_LOGS = ("ts_log.log", "model_metrics.log")
REQUEST_ID = "x-request-id"  # the header TorchServe answers every request with


@dataclass(frozen=True)
class RunningServer:
    inference_url: str
    management_url: str
    metrics_url: str
    log_dir: Path

    def predict(self, model: str, **kwargs) -> requests.Response:
        return requests.post(f"{self.inference_url}/predictions/{model}", timeout=120, **kwargs)

    def describe(self, model: str) -> list[dict]:
        response = requests.get(f"{self.management_url}/models/{model}", timeout=30)
        response.raise_for_status()
        return response.json()

    def batches_of(
        self, responses: list[requests.Response], timeout: float = 10.0
    ) -> list[list[requests.Response]]:
        """``responses`` grouped by the batch a worker predicted them in, as TorchServe
        itself reports it (the request ids of its PredictionTime metric), waiting up to
        ``timeout`` seconds for the log lines to be written."""
        by_id = {response.headers[REQUEST_ID]: response for response in responses}
        deadline = time.monotonic() + timeout
        while True:
            groups = [ids for ids in self._predicted_batches() if set(ids) & set(by_id)]
            seen = {request_id for ids in groups for request_id in ids}
            if seen >= set(by_id) or time.monotonic() > deadline:
                return [[by_id[i] for i in ids if i in by_id] for ids in groups]
            time.sleep(0.2)

    def _predicted_batches(self) -> list[tuple[str, ...]]:
        batches: dict[tuple[str, ...], None] = {}  # each line may be logged twice
        for name in METRIC_LOGS:
            path = self.log_dir / name
            text = path.read_text(errors="replace") if path.exists() else ""
            for match in PREDICTION_TIME.finditer(text):
                batches[tuple(filter(None, match["ids"].split(",")))] = None
        return list(batches)

    def logs(self) -> str:
        parts = []
        for name in ("ts_log.log", "model_log.log"):
            path = self.log_dir / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-6000:])
        return "\n".join(parts)


def server_config(path: Path, model_store: Path, ports: tuple[int, int, int], extra: dict) -> Path:
    """The repository's config.properties with test ports and store substituted."""
    overrides = {
        # Every server gets its own ports, gRPC and worker sockets included, so that
        # several can run at once.
        "grpc_inference_port": free_port(),
        "grpc_management_port": free_port(),
        "initial_worker_port": free_port(),
        "inference_address": address(ports[0]),
        "management_address": address(ports[1]),
        "metrics_address": address(ports[2]),
        "model_store": str(model_store),
        **extra,
    }
    return write_config(path, overrides, base=REPO_ROOT / "config.properties")


@contextmanager
def torchserve(
    model_store: Path,
    models: list[str],
    work_dir: Path,
    extra_config: dict | None = None,
    torchserve_bin: Path | None = None,
) -> Iterator[RunningServer]:
    """Serve ``models`` (archive names in ``model_store``) until the block exits.

    ``torchserve_bin`` defaults to the one beside the running Python; another venv's binary
    makes its workers run on that venv's packages.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    ports = (free_port(), free_port(), free_port())
    config = server_config(work_dir / "config.properties", model_store, ports, extra_config or {})
    launch = Launch(
        config=config,
        model_store=model_store,
        models=tuple(models),
        work_dir=work_dir,
        log_dir=work_dir / "logs",
        pid_dir=work_dir,  # TorchServe keeps its pid file there: one per server
        torchserve_bin=torchserve_bin,
    )
    server = RunningServer(*(address(port) for port in ports), launch.log_dir)
    with open(work_dir / "torchserve.out", "wb") as output:
        process = start(launch, os.environ, output)
        try:
            names = [model.split("=")[0] for model in models]
            try:
                wait_until_ready(server.management_url, STARTUP_SECONDS, names, process)
            except (ServerExited, NotReady) as error:
                raise RuntimeError(f"{error}:\n{_startup_output(work_dir, server)}") from error
            yield server
        finally:
            stop(process, STOP_GRACE_SECONDS)


def _startup_output(work_dir: Path, server: RunningServer) -> str:
    out = work_dir / "torchserve.out"
    text = out.read_text(errors="replace")[-4000:] if out.exists() else ""
    return text + "\n" + server.logs()


def json_of(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return json.loads(response.text or "null")
