"""TorchServe run in the foreground for as long as the container lives.

SageMaker stops a container with SIGTERM (forwarded by tini). The supervisor turns it, or
SIGINT, into a clean stop of the whole server, as ``torchserve --stop`` would, and exits 0;
a TorchServe that ends on its own is a failure (1). Starting and stopping the process are
``torchserve_nlp.serving.torchserve``'s; what is SageMaker's is the work directory's layout
and the exit status.
"""

import logging
import signal
import time
from collections.abc import Mapping
from pathlib import Path

from torchserve_nlp.sagemaker.archive import MODEL_NAME, Prepared
from torchserve_nlp.sagemaker.settings import ServeConfigError
from torchserve_nlp.serving.torchserve import (
    Launch,
    check_java,
    executable,
    signal_group,
    start,
    stop,
)

logger = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 30.0


def prerequisites(env: Mapping[str, str]) -> Path:
    """The torchserve launcher, once Java is known to be there; ServeConfigError naming PATH
    or JAVA_HOME otherwise."""
    try:
        check_java(env)
    except FileNotFoundError as error:
        raise ServeConfigError("JAVA_HOME", str(error)) from error
    try:
        return executable("torchserve")
    except FileNotFoundError as error:
        raise ServeConfigError("PATH", str(error)) from error


def launch(prepared: Prepared, torchserve_bin: Path | None = None) -> Launch:
    """The launch of ``prepared``'s one model; TMPDIR and TEMP (pid file and worker sockets)
    private to this server."""
    return Launch(
        config=prepared.config,
        model_store=prepared.archive.parent,
        models=(f"{MODEL_NAME}={prepared.archive.name}",),
        work_dir=prepared.work_dir,
        log_dir=prepared.log_dir,
        pid_dir=prepared.tmp_dir,
        java_tmp_dir=prepared.tmp_dir,
        torchserve_bin=torchserve_bin,
    )


def run_torchserve(server: Launch, env: Mapping[str, str]) -> int:
    """Run TorchServe in the foreground until it exits or SIGTERM/SIGINT asks us to stop;
    0 after a requested stop, 1 if TorchServe ended on its own."""
    received: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda signum, _frame: received.append(signum))
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        launcher = start(server, env)
        while launcher.poll() is None and not received:
            time.sleep(0.2)
        if received:
            logger.info("received %s: stopping TorchServe", signal.Signals(received[0]).name)
            stop(launcher, STOP_GRACE_SECONDS, pid_file=server.pid_file)
            logger.info("TorchServe stopped")
            return 0
        logger.error("TorchServe exited on its own (status %s)", launcher.returncode)
        signal_group(launcher.pid, signal.SIGKILL)
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
