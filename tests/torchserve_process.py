"""Start the real TorchServe on free loopback ports, talk HTTP to it, always stop it."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 180
# TorchServe's worker (ts/service.py, Service.predict) emits this metric once per batch it
# predicted, with the ids of all the batch's requests; the frontend logs it to ts_log.log
# (metrics_mode prometheus, as config.properties sets) or model_metrics.log (mode log).
PREDICTION_TIME = re.compile(
    r"PredictionTime\.\w+:[\d.]+\|#[^|]*\|#type:\w+\|#hostname:[^,]*,\d+,(?P<ids>[\w,-]+)"
)
METRIC_LOGS = ("ts_log.log", "model_metrics.log")
REQUEST_ID = "x-request-id"  # the header TorchServe answers every request with


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def write_config(path: Path, model_store: Path, ports: tuple[int, int, int], extra: dict) -> None:
    """The repository's config.properties with test ports and store substituted."""
    overrides = {
        # Every server gets its own ports, gRPC and worker sockets included, so that
        # several can run at once.
        "grpc_inference_port": free_port(),
        "grpc_management_port": free_port(),
        "initial_worker_port": free_port(),
        "inference_address": f"http://127.0.0.1:{ports[0]}",
        "management_address": f"http://127.0.0.1:{ports[1]}",
        "metrics_address": f"http://127.0.0.1:{ports[2]}",
        "model_store": str(model_store),
        **extra,
    }
    lines = []
    for line in (REPO_ROOT / "config.properties").read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if not line.startswith("#") and key in overrides:
            continue
        lines.append(line)
    lines += [f"{key}={value}" for key, value in overrides.items()]
    path.write_text("\n".join(lines) + "\n")


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
    config = work_dir / "config.properties"
    write_config(config, model_store, ports, extra_config or {})
    log_dir = work_dir / "logs"
    env = {
        **os.environ,
        "TMPDIR": str(work_dir),  # TorchServe keeps its pid file there: one per server
        "LOG_LOCATION": str(log_dir),
        "METRICS_LOCATION": str(log_dir),
    }
    torchserve_bin = torchserve_bin or Path(sys.executable).with_name("torchserve")
    command = [
        str(torchserve_bin), "--start", "--foreground", "--ncs",
        "--ts-config", str(config), "--model-store", str(model_store),
        "--models", *models,
    ]
    server = RunningServer(
        f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}",
        f"http://127.0.0.1:{ports[2]}", log_dir,
    )
    stdout = open(work_dir / "torchserve.out", "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        command, cwd=work_dir, env=env, stdout=stdout, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until_ready(server, process, [m.split("=")[0] for m in models], work_dir)
        yield server
    finally:
        stop(process)
        stdout.close()


def wait_until_ready(
    server: RunningServer, process: subprocess.Popen, names: list[str], work_dir: Path
) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    pending = set(names)
    while pending and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"torchserve exited early:\n{_startup_output(work_dir, server)}")
        for name in list(pending):
            try:
                workers = server.describe(name)[0].get("workers", [])
            except (requests.RequestException, ValueError, IndexError, KeyError):
                continue
            if workers and all(w.get("status") == "READY" for w in workers):
                pending.discard(name)
        time.sleep(0.5)
    if pending:
        details = _startup_output(work_dir, server)
        raise RuntimeError(f"models {sorted(pending)} not ready:\n{details}")


def _startup_output(work_dir: Path, server: RunningServer) -> str:
    out = work_dir / "torchserve.out"
    text = out.read_text(errors="replace")[-4000:] if out.exists() else ""
    return text + "\n" + server.logs()


def stop(process: subprocess.Popen) -> None:
    """Stop the frontend and its Python workers (the whole process group)."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def json_of(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return json.loads(response.text or "null")
