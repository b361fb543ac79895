"""Issue 11, part 6: README's production settings against the real TorchServe 0.12.

The server runs with README's production config.properties block (token authorization on,
``enable_model_api=false``), ports and store substituted, serving a tiny archive under the
name README's commands use. README's own bash commands of that section run as written, in one
bash script from the server's working directory (where TorchServe writes key_file.json), ports
rewritten; what README says the server answers is what the test asserts."""

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.doc_commands import Command, block_commands, fenced_blocks, rewrite_ports
from tests.tiny_archive import build_tiny_archive
from tests.torchserve_process import REPO_ROOT
from torchserve_nlp.serving.torchserve import (
    READY,
    Launch,
    address,
    free_port,
    start,
    stop,
    write_config,
)

pytestmark = pytest.mark.integration

README = REPO_ROOT / "README.md"
SECTION = "### Production: tokens on, model registration off"
MODEL = "scriptable_tokenizer"  # the name README's commands use; the tiny archive serves it
KEY_FILE = "key_file.json"
DOCUMENTED_PORTS = (8080, 8081, 8082)
STARTUP_SECONDS = 180
TOKEN_MINUTES = 60  # TorchServe's default token_expiration_min
ASSIGNMENT = re.compile(r"^[A-Z_]+=\$\(")


@dataclass(frozen=True)
class Section:
    properties: list[str]  # the config.properties block's lines
    commands: list[Command]  # the bash commands, in document order
    responses: list[dict]  # the JSON blocks, in document order


def production_section() -> Section:
    lines = README.read_text(encoding="utf-8").splitlines()
    first = lines.index(SECTION) + 1
    last = next(i for i in range(first, len(lines)) if re.match(r"#{1,3} ", lines[i]))
    blocks = [b for b in fenced_blocks(README) if first < b.line <= last]
    return Section(
        properties=[line for b in blocks if b.language == "properties" for line in b.lines],
        commands=[c for b in blocks if b.language == "bash" for c in block_commands(b)],
        responses=[json.loads("\n".join(b.lines)) for b in blocks if b.language == "json"],
    )


def settings(lines: list[str]) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


@dataclass(frozen=True)
class Server:
    ports: dict[int, int]  # documented port -> this server's
    work_dir: Path  # the launcher's working directory: key_file.json is written there

    def url(self, documented_port: int) -> str:
        return address(self.ports[documented_port])

    def keys(self) -> dict:
        return json.loads((self.work_dir / KEY_FILE).read_text())


def read_keys(path: Path, timeout: float) -> dict:
    """key_file.json once TorchServe has written all of it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def wait_ready(management: str, token: str, launcher: subprocess.Popen, timeout: float) -> None:
    """The model's workers READY, asked with the management token."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert launcher.poll() is None, f"torchserve exited {launcher.returncode}"
        try:
            response = requests.get(f"{management}/models/{MODEL}", timeout=10,
                                    headers={"Authorization": f"Bearer {token}"})
            workers = response.json()[0]["workers"] if response.ok else []
            if workers and all(worker["status"] == READY for worker in workers):
                return
        except (requests.RequestException, ValueError, LookupError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{MODEL} not ready after {timeout}s")


@pytest.fixture(scope="module")
def section() -> Section:
    return production_section()


@pytest.fixture(scope="module")
def server(section, tmp_path_factory) -> Iterator[Server]:
    mar = build_tiny_archive(tmp_path_factory.mktemp("tiny"))
    work_dir = tmp_path_factory.mktemp("ts")
    (work_dir / "artifacts").symlink_to(REPO_ROOT / "artifacts")  # README's relative -T path
    base = work_dir / "production.properties"
    base.write_text("\n".join(section.properties) + "\n")
    ports = {port: free_port() for port in DOCUMENTED_PORTS}
    config = write_config(work_dir / "config.properties", {
        "inference_address": address(ports[8080]),
        "management_address": address(ports[8081]),
        "metrics_address": address(ports[8082]),
        "grpc_inference_port": free_port(), "grpc_management_port": free_port(),
        "initial_worker_port": free_port(), "model_store": str(mar.parent),
    }, base=base)
    launch = Launch(config=config, model_store=mar.parent, models=(f"{MODEL}={mar.name}",),
                    work_dir=work_dir, log_dir=work_dir / "logs", pid_dir=work_dir)
    with open(work_dir / "torchserve.out", "wb") as output:
        launcher = start(launch, os.environ, output)
        try:
            keys = read_keys(work_dir / KEY_FILE, STARTUP_SECONDS)
            wait_ready(address(ports[8081]), keys["management"]["key"], launcher,
                       STARTUP_SECONDS)
            yield Server(ports, work_dir)
        finally:
            stop(launcher, 20)


def run_commands(section: Section, server: Server) -> tuple[list[Command], list[int], list[str]]:
    """README's bash commands in one bash script, as a reader runs them one after another;
    each curl also writes its status and body to files. The curls, statuses and bodies."""
    curls = [c for c in section.commands if c.argv[0] == "curl"]
    script = ["set -eu"]
    for command in section.commands:
        text = rewrite_ports(command.text, server.ports)
        if command in curls:
            n = curls.index(command)
            text += f" -sS -o body{n}.txt -w '%{{http_code}}' > status{n}.txt"
        script.append(text)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=server.work_dir, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    statuses = [int((server.work_dir / f"status{n}.txt").read_text()) for n in range(len(curls))]
    bodies = [(server.work_dir / f"body{n}.txt").read_text() for n in range(len(curls))]
    return curls, statuses, bodies


def endpoint(curl: Command) -> str:
    """What a curl asks for: the first part of its URL's path, with a query's first key."""
    url = next(token for token in curl.argv if token.startswith("http"))
    path = url.split("/", 3)[3]
    return path.split("/")[0] if "?" not in path else path.split("=")[0]


def test_readme_config_is_the_repository_config_with_token_authorization_on(section):
    local = settings((REPO_ROOT / "config.properties").read_text().splitlines())
    assert local.pop("disable_token_authorization") == "true"
    production = settings(section.properties)
    assert production == local
    assert production["enable_model_api"] == "false"


def test_readme_commands_as_written(section, server):
    started = datetime.now(UTC)
    first_keys = server.keys()
    for kind in ("inference", "management"):  # valid for TorchServe's default hour
        expires = datetime.fromisoformat(first_keys[kind]["expiration time"].replace("Z", ""))
        remaining = expires.replace(tzinfo=UTC) - started
        assert timedelta(minutes=TOKEN_MINUTES - 5) < remaining <= timedelta(
            minutes=TOKEN_MINUTES), (kind, first_keys)
    assert oct((server.work_dir / KEY_FILE).stat().st_mode & 0o777) == "0o600"

    curls, statuses, bodies = run_commands(section, server)
    assert [endpoint(c) for c in curls] == ["predictions", "models?url", "token?type",
                                            "predictions"], [c.text for c in curls]
    predict, register, renew, predict_again = zip(statuses, bodies, strict=True)
    refused_without_token, refused_registration = section.responses

    # The prediction with the inference token read from key_file.json.
    for status, body in (predict, predict_again):
        assert status == 200, body
        probabilities = json.loads(body)
        assert set(probabilities) == {"Negative", "Positive"}
        assert abs(sum(probabilities.values()) - 1) < 1e-6
    # Registration refused even with the management token, exactly as README shows.
    assert (register[0], json.loads(register[1])) == (405, refused_registration)
    # Renewal answers an empty 200 and rewrites the key file: a new inference token, which
    # the later command read and used; the old one is refused from then on.
    assert renew == (200, "\n")
    renewed = server.keys()
    assert renewed["inference"]["key"] != first_keys["inference"]["key"]
    assert renewed["management"] == first_keys["management"]
    assert renewed["API"] == first_keys["API"]
    old = requests.put(f"{server.url(8080)}/predictions/{MODEL}", data=b"hi", timeout=60,
                       headers={"Authorization": f"Bearer {first_keys['inference']['key']}"})
    assert (old.status_code, old.json()) == (400, refused_without_token)


def test_requests_without_the_inference_token_are_refused_with_400(section, server):
    refused = section.responses[0]
    keys = server.keys()
    url = f"{server.url(8080)}/predictions/{MODEL}"
    sample = (REPO_ROOT / "artifacts" / MODEL / "sample_text.txt").read_bytes()
    attempts = {
        "no header": {},
        "wrong token": {"Authorization": "Bearer not-a-token"},
        "management token": {"Authorization": f"Bearer {keys['management']['key']}"},
        "token without Bearer": {"Authorization": keys["inference"]["key"]},
    }
    for label, headers in attempts.items():
        response = requests.put(url, data=sample, headers=headers, timeout=60)
        assert (response.status_code, response.json()) == (400, refused), label
        assert response.headers["Content-Type"] == "application/json"
    ping = requests.get(f"{server.url(8080)}/ping", timeout=30)
    assert (ping.status_code, ping.json()) == (400, refused)
    inference = {"Authorization": f"Bearer {keys['inference']['key']}"}
    ping = requests.get(f"{server.url(8080)}/ping", headers=inference, timeout=30)
    assert (ping.status_code, ping.json()) == (200, {"status": "Healthy"})
    metrics = requests.get(f"{server.url(8082)}/metrics", timeout=30)
    assert metrics.status_code == 200 and "ts_inference_requests_total" in metrics.text
    answered = requests.put(url, data=sample, headers=inference, timeout=60)
    assert answered.status_code == 200 and set(answered.json()) == {"Negative", "Positive"}


def test_management_token_manages_workers_but_cannot_register_or_unregister(section, server):
    refused_without_token, refused_registration = section.responses
    management = server.url(8081)
    token = {"Authorization": f"Bearer {server.keys()['management']['key']}"}
    listed = requests.get(f"{management}/models", headers=token, timeout=30)
    assert listed.status_code == 200
    assert [m["modelName"] for m in listed.json()["models"]] == [MODEL]
    scaled = requests.put(f"{management}/models/{MODEL}", params={"min_worker": 1},
                          headers=token, timeout=30)
    assert scaled.status_code == 202, scaled.text
    for method, path, params in (("POST", "/models", {"url": f"{MODEL}.mar"}),
                                 ("DELETE", f"/models/{MODEL}", {})):
        with_token = requests.request(method, f"{management}{path}", params=params,
                                      headers=token, timeout=30)
        assert (with_token.status_code, with_token.json()) == (405, refused_registration)
        without = requests.request(method, f"{management}{path}", params=params, timeout=30)
        assert (without.status_code, without.json()) == (400, refused_without_token)
    inference_token = {"Authorization": f"Bearer {server.keys()['inference']['key']}"}
    described = requests.get(f"{management}/models/{MODEL}", headers=inference_token,
                             timeout=30)
    assert (described.status_code, described.json()) == (400, refused_without_token)
