"""The three ways the documents start TorchServe, run for a ``tests.doc_scenario.Scenario``
on its free loopback ports, each a context manager that always stops the server:

* ``make serve`` and ``torchserve --start``: a daemon on the folder's config.properties; the
  launcher returns, the server's process group lives on. Stopped with ``make stop`` or
  ``torchserve --stop``, then the whole group killed if anything is left.
* ``scripts/serve``: the SageMaker entrypoint in the foreground, its ports given by its own
  environment variables; stopped with SIGTERM, and the TorchServe it started killed if it
  outlives it.
"""

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.doc_commands import Command, classify, runnable
from torchserve_nlp.sagemaker.archive import MODEL_NAME
from torchserve_nlp.sagemaker.settings import PORT_VARIABLES, Ports
from torchserve_nlp.serving.torchserve import (
    PID_FILE,
    address,
    free_port,
    signal_group,
    wait_group_gone,
    wait_until_ready,
)

INSTALLED = ".venv/.installed"  # the Makefile's install stamp: a test never remakes it
DOCUMENTED = Ports()  # the ports the documents name: 8080, 8081, 8082
STEP_SECONDS, STARTUP_SECONDS, STOP_SECONDS = 600, 240, 60


@dataclass(frozen=True)
class Server:
    ports: dict[int, int]  # documented port -> the test's
    archives: dict[str, Path | None]  # served model -> its .mar (None: built by the server)

    @property
    def inference_url(self) -> str:
        return address(self.ports[DOCUMENTED.inference])


class GroupWatch:
    """``poll`` as a launcher's, for a daemon's process group (its launcher has exited)."""

    def __init__(self, group: int) -> None:
        self.group, self.returncode = group, None

    def poll(self) -> int | None:
        self.returncode = None if signal_group(self.group, 0) else -1
        return self.returncode


@contextmanager
def serving(scenario, command: Command) -> Iterator[tuple[Server, int]]:
    """The server ``command`` starts, ready, and its process group."""
    flavour = classify(command)[1]
    if flavour == "entrypoint":
        with entrypoint(scenario, command) as served:
            yield served
        return
    if flavour == "make":
        assert_make_trains_nothing(scenario, command)
    argv = ["make", "-o", INSTALLED, *command.argv[1:]] if flavour == "make" else (
        runnable(command.argv))
    log = scenario.log(argv[0])
    with open(log, "wb") as out:
        launcher = subprocess.Popen(argv, cwd=scenario.root, env={**scenario.env, **command.env},
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        code = launcher.wait(timeout=STEP_SECONDS)
        assert code == 0, f"{command.key} exited {code}:\n{tail(scenario.root, log)}"
        archives = {p.stem: p for p in sorted(scenario.root.glob("model_store/*.mar"))}
        management = address(scenario.ports[DOCUMENTED.management])
        wait(management, list(archives), GroupWatch(launcher.pid), scenario.root, log)
        yield Server(scenario.ports, archives), launcher.pid
    finally:
        if signal_group(launcher.pid, 0):  # README: `make stop` stops the server
            stop = ["make", "-o", INSTALLED, "stop"] if flavour == "make" else [
                "torchserve", "--stop"]
            subprocess.run(stop, cwd=scenario.root, env=scenario.env, capture_output=True,
                           timeout=STOP_SECONDS)
            if not wait_group_gone(launcher.pid, STOP_SECONDS):
                signal_group(launcher.pid, signal.SIGKILL)


def assert_make_trains_nothing(scenario, command: Command) -> None:
    """Fail at once, rather than after an hour, when make would train a model for real."""
    planned = scenario.run(["make", "-n", "-o", INSTALLED, *command.argv[1:]])
    training = [line for line in planned.splitlines()
                if "scripts/train_" in line or "scripts/build_" in line]
    assert not training, f"{command.key} would train for many minutes: {training}"


@contextmanager
def entrypoint(scenario, command: Command) -> Iterator[tuple[Server, int]]:
    ports = {name: free_port() for name in PORT_VARIABLES}
    log = scenario.log("serve")
    work = log.with_suffix(".work")  # SERVE_WORK_DIR: TorchServe's config, logs and pid file
    env = {**scenario.env, **command.env, "SERVE_WORK_DIR": str(work),
           **{variable: str(ports[name]) for name, variable in PORT_VARIABLES.items()}}
    with open(log, "wb") as out:
        process = subprocess.Popen(runnable(command.argv), cwd=scenario.root, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait(address(ports["management"]), [MODEL_NAME], process, work, log)
        documented = {getattr(DOCUMENTED, name): ports[name]
                      for name in ("inference", "management", "metrics")}
        yield Server(documented, {MODEL_NAME: None}), process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
        try:  # a TorchServe the entrypoint left behind
            frontend = int((work / "tmp" / PID_FILE).read_text().split()[0])
            if str(work) in Path(f"/proc/{frontend}/cmdline").read_text(errors="replace"):
                os.killpg(os.getpgid(frontend), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


def wait(management: str, names: list[str], launcher, logs: Path, log: Path) -> None:
    try:
        wait_until_ready(management, STARTUP_SECONDS, names, launcher)
    except (RuntimeError, TimeoutError) as error:
        raise AssertionError(f"{error}\n{tail(logs, log)}") from error


def tail(logs: Path, log: Path) -> str:
    """The ends of ``log`` and of TorchServe's logs under ``logs``."""
    files = [log, *sorted(logs.glob("logs/*.log"))]
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                     for p in files if p.is_file())
