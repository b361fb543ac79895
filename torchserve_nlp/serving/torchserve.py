"""One TorchServe server as a process: its config.properties, its command and environment,
starting it in its own process group, waiting until its models' workers are READY, and
stopping all of it.

Written once because TorchServe's launcher (``torchserve --start --foreground``, TorchServe
0.12's ``ts/model_server.py``) is easy to get subtly wrong: it writes its pid file into
``tempfile.gettempdir()`` (so TMPDIR must be private to the server when several run at
once), the Java frontend's ``java.io.tmpdir`` comes from TEMP, and the frontend's Python
workers outlive a launcher that is killed alone, so the whole process group must be
signalled. Paths are arguments: nothing here knows the repository's layout.
"""

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import requests

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
PID_FILE = ".model_server.pid"  # what the launcher writes into tempfile.gettempdir()
READY = "READY"  # a worker's status in the management API's model description
NOT_ANSWERING = "(server not answering yet)"
REQUEST_SECONDS = 10.0
# Path settings TorchServe resolves against its working directory; a base config's relative
# one is meant from the base's folder (``make serve`` starts TorchServe beside
# config.properties).
PATHS_FROM_BASE = ("metrics_config",)
# The frontend JVM compiles with C1 only. On 2 cores, C2 was still compiling after 2,400
# requests and cost about 1 ms of CPU per request, taken from the workers; C1's code
# settled at 0.4 ms (docs/benchmarks.md, "The frontend's share of the cores").
FRONTEND_VM_ARGS = "-XX:TieredStopAtLevel=1"


class ServerExited(RuntimeError):
    """TorchServe's launcher ended while it was being waited for."""

    def __init__(self, returncode: int | None) -> None:
        super().__init__(f"torchserve exited early (status {returncode})")
        self.returncode = returncode


class NotReady(TimeoutError):
    """Some models still had workers that were not READY when the time was up."""

    def __init__(self, timeout: float, waiting: Sequence[str]) -> None:
        super().__init__(f"not ready after {timeout:.0f}s: {list(waiting)}")
        self.waiting = list(waiting)


# ------------------------------------------------------------------------------- config


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def address(port: int, host: str = LOOPBACK) -> str:
    """An HTTP listener address as config.properties spells it (and clients reach it)."""
    return f"http://{host}:{port}"


def write_config(
    path: Path,
    settings: Mapping[str, object],
    base: Path | None = None,
    header: str | None = None,
) -> Path:
    """config.properties: ``base``'s lines (its comments kept) without the keys ``settings``
    sets, then ``settings``; ``header`` (a ``#`` comment) first. A relative path of
    ``PATHS_FROM_BASE`` in ``base`` is made absolute from ``base``'s folder, so that the
    written file serves from any working directory."""
    lines = [header] if header else []
    if base is not None:
        for line in base.read_text(encoding="utf-8").splitlines():
            key, _, value = (part.strip() for part in line.partition("="))
            if line.startswith("#") or key not in settings:
                lines.append(_from_base(key, value, base) or line)
    lines += [f"{key}={value}" for key, value in settings.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_properties(path: Path) -> dict[str, str]:
    """A config.properties as key -> value (comments and blank lines skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _from_base(key: str, value: str, base: Path) -> str | None:
    """``key=<absolute path>`` for a relative path setting of ``base``; else None."""
    if key not in PATHS_FROM_BASE or not value or Path(value).is_absolute():
        return None
    return f"{key}={(base.parent / value).absolute()}"


# -------------------------------------------------------------------------- the process


def executable(name: str) -> Path:
    """``name`` beside the running interpreter (its virtualenv), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return beside
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed beside {sys.executable} or on PATH")
    return Path(found)


def check_java(env: Mapping[str, str]) -> None:
    """FileNotFoundError unless a Java runtime is at JAVA_HOME or on PATH."""
    java_home = env.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return
    if shutil.which("java") is None:
        raise FileNotFoundError(
            "java is not on PATH; TorchServe's frontend needs a Java 17 runtime "
            "(apt-get install openjdk-17-jre-headless)"
        )


@dataclass(frozen=True)
class Launch:
    """What one ``torchserve --start --foreground`` is given."""

    config: Path  # config.properties
    model_store: Path
    models: tuple[str, ...]  # the startup models, "name=archive.mar"
    work_dir: Path  # the launcher's working directory
    log_dir: Path  # LOG_LOCATION and METRICS_LOCATION
    pid_dir: Path  # TMPDIR, where the launcher writes its pid file: one per server
    java_tmp_dir: Path | None = None  # TEMP, the frontend's java.io.tmpdir (worker sockets)
    torchserve_bin: Path | None = None  # None: found by ``executable``

    @property
    def pid_file(self) -> Path:
        return self.pid_dir / PID_FILE

    def command(self) -> list[str]:
        return [
            str(self.torchserve_bin or executable("torchserve")),
            "--start", "--foreground", "--ncs",
            "--ts-config", str(self.config),
            "--model-store", str(self.model_store),
            "--models", *self.models,
        ]

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        private = {
            "TMPDIR": str(self.pid_dir),
            "LOG_LOCATION": str(self.log_dir),
            "METRICS_LOCATION": str(self.log_dir),
        }
        if self.java_tmp_dir is not None:
            private["TEMP"] = str(self.java_tmp_dir)
        return {**env, **private}


def start(
    launch: Launch, env: Mapping[str, str], output: IO[bytes] | None = None
) -> subprocess.Popen:
    """The launcher, in a new session: its own process group, so that one signal reaches the
    Java frontend and every worker. ``output`` takes its stdout and stderr (None: ours)."""
    command = launch.command()
    logger.info("starting: %s", " ".join(command))
    return subprocess.Popen(
        command, cwd=launch.work_dir, env=launch.environment(env), stdout=output,
        stderr=None if output is None else subprocess.STDOUT, start_new_session=True,
    )


def frontend_pid(pid_file: Path, group: int) -> int | None:
    """The Java frontend's pid from the launcher's pid file, if it is in the server's group."""
    try:
        pid = int(pid_file.read_text().split()[0])
        return pid if os.getpgid(pid) == group else None
    except (OSError, ValueError, IndexError):
        return None


def signal_group(group: int, signum: int) -> bool:
    """Send ``signum`` to the server's process group; False when the group is gone."""
    try:
        os.killpg(group, signum)
        return True
    except ProcessLookupError:
        return False


def wait_group_gone(group: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while signal_group(group, 0):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop(
    launcher: subprocess.Popen, grace: float, pid_file: Path | None = None, settle: float = 10.0
) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds, until nothing of the server's process
    group is left. With ``pid_file`` the SIGTERM goes to the Java frontend only, as
    ``torchserve --stop`` does, so that the frontend shuts its workers down itself."""
    group = launcher.pid
    frontend = None if pid_file is None else frontend_pid(pid_file, group)
    if frontend is not None:
        os.kill(frontend, signal.SIGTERM)
    else:
        signal_group(group, signal.SIGTERM)
    try:
        launcher.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        logger.warning("TorchServe did not stop within %.0fs: killing it", grace)
        signal_group(group, signal.SIGKILL)
        launcher.wait()
    if not wait_group_gone(group, settle):
        logger.warning("killing TorchServe processes left after the frontend stopped")
        signal_group(group, signal.SIGKILL)


# ---------------------------------------------------------------------------- readiness


def registered_models(management_url: str) -> list[str]:
    """The names of the models TorchServe has registered (the management API's first page:
    up to 100)."""
    response = requests.get(f"{management_url}/models", timeout=REQUEST_SECONDS)
    response.raise_for_status()
    return [model["modelName"] for model in response.json()["models"]]


def workers_ready(management_url: str, name: str) -> bool:
    """Whether model ``name`` has workers and all of them are READY."""
    try:
        response = requests.get(f"{management_url}/models/{name}", timeout=REQUEST_SECONDS)
        response.raise_for_status()
        workers = response.json()[0].get("workers", [])
    except (requests.RequestException, ValueError, LookupError, AttributeError):
        return False
    return bool(workers) and all(worker.get("status") == READY for worker in workers)


def not_ready(management_url: str, names: Sequence[str] | None = None) -> list[str]:
    """Those of ``names`` (default: every registered model) whose workers are not all READY."""
    names = registered_models(management_url) if names is None else names
    return [name for name in names if not workers_ready(management_url, name)]


def wait_until_ready(
    management_url: str,
    timeout: float,
    names: Sequence[str] | None = None,
    launcher: subprocess.Popen | None = None,
    interval: float = 0.5,
) -> None:
    """Return once every model of ``names`` (default: every registered one) has all its
    workers READY; NotReady after ``timeout`` seconds, ServerExited if ``launcher`` ends."""
    deadline = time.monotonic() + timeout
    while True:
        if launcher is not None and launcher.poll() is not None:
            raise ServerExited(launcher.returncode)
        try:
            waiting = not_ready(management_url, names)
        except (requests.RequestException, ValueError, LookupError, TypeError):
            waiting = [NOT_ANSWERING]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise NotReady(timeout, waiting)
        time.sleep(interval)
