"""torchserve_nlp.serving.torchserve without TorchServe: the config it writes, the command and
environment it launches, readiness against a fake management API (and scripts/
wait_until_ready.py on it), and stopping a real process group that ignores SIGTERM."""

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from torchserve_nlp.serving.torchserve import (
    FRONTEND_VM_ARGS,
    LOOPBACK,
    NOT_ANSWERING,
    Launch,
    NotReady,
    ServerExited,
    address,
    free_port,
    not_ready,
    signal_group,
    stop,
    wait_until_ready,
    write_config,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_SCRIPT = REPO_ROOT / "scripts" / "wait_until_ready.py"


def test_config_overrides_the_base_and_keeps_its_comments(tmp_path):
    base = tmp_path / "base.properties"
    base.write_text("# inference_address=kept comment\ninference_address=http://x:1\nload_models=all\n")
    path = write_config(
        tmp_path / "out" / "config.properties",
        {"inference_address": address(9000), "model_store": "/store"},
        base=base,
        header="# generated",
    )
    assert path.read_text().splitlines() == [
        "# generated",
        "# inference_address=kept comment",
        "load_models=all",
        f"inference_address=http://{LOOPBACK}:9000",
        "model_store=/store",
    ]


def test_the_repository_config_gives_the_frontend_its_vm_args():
    lines = (REPO_ROOT / "config.properties").read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if line.startswith("vmargs=")] == [
        f"vmargs={FRONTEND_VM_ARGS}"
    ]


def test_launch_command_and_private_environment(tmp_path):
    launch = Launch(
        config=tmp_path / "config.properties", model_store=tmp_path / "store",
        models=("a=a.mar", "b=b.mar"), work_dir=tmp_path, log_dir=tmp_path / "logs",
        pid_dir=tmp_path / "tmp", torchserve_bin=Path("/opt/bin/torchserve"),
    )
    assert launch.command() == [
        "/opt/bin/torchserve", "--start", "--foreground", "--ncs",
        "--ts-config", str(tmp_path / "config.properties"),
        "--model-store", str(tmp_path / "store"), "--models", "a=a.mar", "b=b.mar",
    ]
    env = launch.environment({"PATH": "/bin", "TMPDIR": "/shared", "TEMP": "/shared"})
    assert env["TMPDIR"] == str(tmp_path / "tmp") and env["TEMP"] == "/shared"
    assert env["LOG_LOCATION"] == env["METRICS_LOCATION"] == str(tmp_path / "logs")
    assert launch.pid_file == tmp_path / "tmp" / ".model_server.pid"
    java_tmp = replace(launch, java_tmp_dir=tmp_path / "java")
    assert java_tmp.environment({})["TEMP"] == str(tmp_path / "java")


@pytest.fixture
def management() -> Iterator[tuple[str, dict[str, list[str]]]]:
    """A fake management API: ``models`` maps each model to its workers' statuses."""
    models: dict[str, list[str]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            name = self.path.removeprefix("/models").strip("/")
            if not name:
                body, status = {"models": [{"modelName": m} for m in models]}, 200
            elif name in models:
                body = [{"workers": [{"status": status} for status in models[name]]}]
                status = 200
            else:
                body, status = {"code": 404, "message": f"Model not found: {name}"}, 404
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield address(server.server_address[1]), models
    finally:
        server.shutdown()
        server.server_close()


def test_readiness_needs_every_worker_of_every_model_ready(management):
    url, models = management
    models.update(a=["READY", "READY"], b=["READY", "UNLOADING"], c=[])
    assert not_ready(url) == ["b", "c"]
    assert not_ready(url, ["a", "missing"]) == ["missing"]
    with pytest.raises(NotReady) as caught:
        wait_until_ready(url, 0.3, interval=0.1)
    assert caught.value.waiting == ["b", "c"]
    models.update(b=["READY"], c=["READY"])
    wait_until_ready(url, 5, interval=0.1)


def test_a_server_not_answering_or_gone_is_reported():
    with pytest.raises(NotReady) as caught:
        wait_until_ready(address(free_port()), 0.3, interval=0.1)
    assert caught.value.waiting == [NOT_ANSWERING]
    exited = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    exited.wait()
    with pytest.raises(ServerExited, match="status 3"):
        wait_until_ready(address(free_port()), 30, launcher=exited)


def run_wait_script(url: str, timeout: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(WAIT_SCRIPT), "--management", url, "--timeout", timeout],
        capture_output=True, text=True, timeout=60,
    )


def test_wait_until_ready_script(management):
    url, models = management
    models.update(a=["READY"], b=["STARTING"])
    waiting = run_wait_script(url, "1")
    assert waiting.returncode == 1
    assert waiting.stderr.strip() == "not ready after 1s: ['b']; see logs/model_log.log"
    models.update(b=["READY"])
    ready = run_wait_script(url, "5")
    assert ready.returncode == 0, ready.stderr
    assert ready.stdout == f"all models ready; list them with: curl {url}/models\n"


def test_stop_kills_a_group_that_ignores_sigterm():
    # The shell and its background child both ignore SIGTERM (inherited across exec).
    group = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; sleep 60 & sleep 60"], start_new_session=True
    )
    stop(group, grace=0.5)
    assert group.returncode is not None
    assert not signal_group(group.pid, 0)
