"""Where a side-by-side benchmark sends its requests: one private TorchServe that serves every
archive at once (one worker each, free loopback ports, token authorization off: its only
client is the benchmark), or a server already running at a given address."""

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from torchserve_nlp.serving import torchserve as ts
from torchserve_nlp.serving.torchserve import FRONTEND_VM_ARGS, address, free_port

logger = logging.getLogger(__name__)

STARTUP_SECONDS = 600  # several Transformer workers load at once on a busy 2-core box
STOP_GRACE_SECONDS = 30

# What config.properties states for local serving. A --config file may set any of these
# (vmargs, say, to measure another JIT); the listeners and the model store are always the
# private server's own.
SERVING_SETTINGS = {
    "load_models": "all",
    "default_workers_per_model": 1,
    "metrics_mode": "prometheus",
    "disable_token_authorization": "true",
    "enable_model_api": "false",
    "max_request_size": 6553500,
    "max_response_size": 6553500,
    "install_py_dep_per_model": "false",
    "vmargs": FRONTEND_VM_ARGS,
}


@dataclass(frozen=True)
class RunningServer:
    inference_url: str
    frontend_pid: int | None  # None: not known (the launcher's pid file was unreadable)


class ServerUnusable(RuntimeError):
    """The server cannot answer for an archive; the message says what to do."""


def linked_store(archives: Mapping[str, Path], store: Path) -> dict[str, str]:
    """Symlink every archive into ``store`` as ``<name>.mar``; the startup models
    ``{name: "<name>.mar"}``. Missing archives fail before anything starts."""
    missing = {name: str(path) for name, path in archives.items() if not path.is_file()}
    if missing:
        raise FileNotFoundError(f"no such archive: {missing}; build it or fix the path")
    store.mkdir(parents=True, exist_ok=True)
    models = {}
    for name, path in archives.items():
        (link := store / f"{name}.mar").unlink(missing_ok=True)
        link.symlink_to(path.resolve())
        models[name] = link.name
    return models


def server_settings(
    base_config: Path | None, private: Mapping[str, object]
) -> dict[str, object]:
    """What ts.write_config adds to ``base_config``'s lines: the defaults it does not set,
    then ``private`` (listeners, model store), which it cannot change."""
    chosen = set() if base_config is None else set(ts.read_properties(base_config))
    defaults = {key: value for key, value in SERVING_SETTINGS.items() if key not in chosen}
    return {**defaults, **private}


@contextmanager
def serve_archives(
    archives: Mapping[str, Path], work_dir: Path, base_config: Path | None = None,
    startup_seconds: float = STARTUP_SECONDS,
) -> Iterator[RunningServer]:
    """TorchServe serving every ``{name: archive}`` until the block exits; yields its
    inference address and frontend. Its config, logs and output stay in ``work_dir``."""
    models = linked_store(archives, work_dir / "model_store")
    ports = [free_port() for _ in range(3)]
    settings = server_settings(base_config, {
        "inference_address": address(ports[0]), "management_address": address(ports[1]),
        "metrics_address": address(ports[2]), "grpc_inference_port": free_port(),
        "grpc_management_port": free_port(), "initial_worker_port": free_port(),
        "model_store": str(work_dir / "model_store"),
    })
    launch = ts.Launch(
        config=ts.write_config(work_dir / "config.properties", settings, base=base_config),
        model_store=work_dir / "model_store",
        models=tuple(f"{name}={file}" for name, file in models.items()),
        work_dir=work_dir, log_dir=work_dir / "logs", pid_dir=work_dir,
    )
    with open(work_dir / "torchserve.out", "wb") as output:
        launcher = ts.start(launch, os.environ, output)
        try:
            logger.info("waiting for %d models to load (logs in %s)", len(models), launch.log_dir)
            try:
                ts.wait_until_ready(address(ports[1]), startup_seconds, list(models), launcher)
            except (ts.NotReady, ts.ServerExited) as error:
                raise ServerUnusable(
                    f"TorchServe did not get ready: {error}; see {launch.log_dir}/model_log.log "
                    f"and {work_dir}/torchserve.out"
                ) from error
            yield RunningServer(address(ports[0]),
                                ts.frontend_pid(launch.pid_file, launcher.pid))
        finally:
            ts.stop(launcher, STOP_GRACE_SECONDS, launch.pid_file)


def check_answers(predictions_url: str, body: str, content_type: str, timeout_s: float) -> None:
    """One request to ``predictions_url``; ServerUnusable, saying why, unless it gets a 200."""
    try:
        response = requests.post(predictions_url, data=body.encode("utf-8"),
                                  headers={"Content-Type": content_type}, timeout=timeout_s)
    except requests.RequestException as error:
        raise ServerUnusable(
            f"nothing answers at {predictions_url} ({type(error).__name__}); start TorchServe "
            "there, or leave out --url to let the benchmark start its own"
        ) from error
    if response.status_code == 404:
        raise ServerUnusable(
            f"{predictions_url}: 404, the server serves no model of that name; serve the "
            "archive under the name given before '=', or leave out --url"
        )
    if response.status_code != 200:
        raise ServerUnusable(
            f"{predictions_url} answered {response.status_code} to the first text: "
            f"{response.text[:300]}"
        )
