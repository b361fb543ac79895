"""Issue 13, part 2: the manifests' probes against the real TorchServe 0.12, started with the
manifests' command on a layout written by ``torchserve_nlp.deploy`` (ports rewritten to free
loopback ports; the layout's mount is its folder here).

The layout holds the tiny classifier and a model whose worker finishes loading only when the
test says so, so "started" can be checked while a model is still loading: the startup probe
(every worker READY) must fail then although ``/v2/health/ready`` already answers 200, which
is why the startup probe exists. With token authorization on, no probe can pass, which is
why the layout turns it off (docs/kserve.md, "Probes and authorization")."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
import requests
import yaml

from tests.tiny_archive import NAME as TINY
from tests.tiny_archive import build_tiny_archive
from torchserve_nlp.deploy import container
from torchserve_nlp.deploy.layout import (
    ServerSettings,
    apply_overrides,
    read_archive,
    write_layout,
)
from torchserve_nlp.deploy.layout import Setting as S
from torchserve_nlp.serving.torchserve import (
    address,
    executable,
    free_port,
    read_properties,
    stop,
    write_config,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = REPO / "deploy" / "kubernetes" / "deployment.yaml"
GATED = "gated"
RELEASE_ENV = "KSERVE_PROBE_TEST_RELEASE"
GATED_HANDLER = f'''
import os, time

def handle(data, context):
    if data is None:  # TorchServe's load call: wait until the test releases the model
        while not os.path.exists(os.environ["{RELEASE_ENV}"]):
            time.sleep(0.1)
        return None
    return ["ok" for _ in data]
'''
STARTUP_SECONDS = 180
STOP_GRACE_SECONDS = 20


@dataclass(frozen=True)
class Ports:
    inference: int
    management: int
    metrics: int


@dataclass(frozen=True)
class Probes:
    """The serving container's probes, as deployment.yaml declares them."""

    spec: dict
    ports: Ports

    def http(self, kind: str) -> bool:
        """As the kubelet judges an httpGet probe: 200-399 within the timeout."""
        probe = self.spec[kind]
        assert probe["httpGet"]["port"] == container.INFERENCE_PORT
        url = f"{address(self.ports.inference)}{probe['httpGet']['path']}"
        try:
            response = requests.get(url, timeout=probe["timeoutSeconds"])
        except requests.RequestException:
            return False
        return 200 <= response.status_code < 400

    def startup(self) -> subprocess.CompletedProcess:
        """The exec probe, its python and management port made this test's."""
        probe = self.spec["startupProbe"]
        command = [sys.executable if part == "python" else part
                   for part in probe["exec"]["command"]]
        command = [address(self.ports.management) if part == container.management_url()
                   else part for part in command]
        assert command != probe["exec"]["command"]
        return subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                              timeout=probe["timeoutSeconds"])

    def all_pass(self) -> bool:
        return (self.startup().returncode == 0 and self.http("readinessProbe")
                and self.http("livenessProbe"))


def serving_container() -> dict:
    deployment, = yaml.safe_load_all(DEPLOYMENT.read_text(encoding="utf-8"))
    return deployment["spec"]["template"]["spec"]["containers"][0]


def gated_archive(work: Path) -> Path:
    handler = work / "gated_handler.py"
    handler.write_text(GATED_HANDLER)
    subprocess.run([str(executable("torch-model-archiver")), "--model-name", GATED,
                    "--version", "1.0", "--handler", str(handler), "--export-path", str(work),
                    "--force"], check=True)
    return work / f"{GATED}.mar"


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> list[Path]:
    work = tmp_path_factory.mktemp("kserve-archives")
    return [build_tiny_archive(work / "tiny"), gated_archive(work)]


def layout_with_test_ports(root: Path, archives: list[Path], ports: Ports, **extra) -> Path:
    """The layout as scripts/kserve_layout.py writes it, seen from ``root``; then only its
    listeners moved to this test's loopback ports (and ``extra`` settings)."""
    models = [apply_overrides(read_archive(archives[0]), {S.WORKERS: 2, S.BATCH_SIZE: 3}),
              *(read_archive(path) for path in archives[1:])]
    layout = write_layout(root, models, ServerSettings(mount=PurePosixPath(root)))
    config = read_properties(layout.config)
    assert config["inference_address"].endswith(f":{container.INFERENCE_PORT}")
    moved = {
        "inference_address": address(ports.inference),
        "management_address": address(ports.management),
        "metrics_address": address(ports.metrics),
        "grpc_inference_port": free_port(),
        "grpc_management_port": free_port(),
        "initial_worker_port": free_port(),
        **extra,
    }
    return write_config(layout.config, moved, base=layout.config)


@contextmanager
def serving(root: Path, work: Path, args: list[str], release: Path) -> Iterator[None]:
    """TorchServe started with the manifests' arguments from ``work``, stopped after."""
    work.mkdir()
    command = [str(executable("torchserve")), *args[1:]]
    env = {**os.environ, "TMPDIR": str(work), "TEMP": str(work), RELEASE_ENV: str(release),
           "LOG_LOCATION": str(work / "logs"), "METRICS_LOCATION": str(work / "logs")}
    with open(work / "torchserve.out", "wb") as output:
        process = subprocess.Popen(command, cwd=work, env=env, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield
        finally:
            stop(process, STOP_GRACE_SECONDS)


def wait_for(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} not within {seconds:.0f}s"
        time.sleep(0.5)


def new_ports() -> Ports:
    return Ports(free_port(), free_port(), free_port())


def test_probes_fail_until_every_worker_is_ready_and_after_the_server_stops(
    tmp_path, archives
):
    spec = serving_container()
    ports = new_ports()
    probes = Probes(spec, ports)
    root = tmp_path / "mnt-models"
    layout_with_test_ports(root, archives, ports)
    release = tmp_path / "release-gated-model"

    assert not probes.http("readinessProbe") and not probes.http("livenessProbe")
    assert probes.startup().returncode != 0

    with serving(root, tmp_path / "work", container.torchserve_args(PurePosixPath(root)),
                 release):
        wait_for(lambda: probes.http("readinessProbe"), STARTUP_SECONDS, "/v2/health/ready")
        # Models registered, the gated one's worker still loading: ready says 200, live
        # too, but the startup probe fails, naming the model.
        assert probes.http("livenessProbe")
        loading = probes.startup()
        assert loading.returncode != 0
        assert GATED in loading.stderr

        release.touch()
        wait_for(lambda: probes.startup().returncode == 0, STARTUP_SECONDS, "startup probe")
        assert probes.all_pass()

        # The layout's snapshot set the tiny model's workers and batching.
        described = requests.get(f"{address(ports.management)}/models/{TINY}", timeout=10)
        model, = described.json()
        assert (model["minWorkers"], model["maxWorkers"], model["batchSize"]) == (2, 2, 3)
        assert [w["status"] for w in model["workers"]] == ["READY", "READY"]
        answer = requests.post(f"{address(ports.inference)}/predictions/{TINY}",
                               data="great ride", headers={"Content-Type": "text/plain"},
                               timeout=60)
        assert answer.status_code == 200 and set(answer.json()) == {"Negative", "Positive"}

    assert not probes.http("readinessProbe") and not probes.http("livenessProbe")
    assert probes.startup().returncode != 0


def test_with_token_authorization_on_no_probe_can_pass(tmp_path, archives):
    """TorchServe's default: /v2/health/* and the management API demand a token that the
    server generates at start-up, so neither the HTTP probes nor the startup probe pass."""
    ports = new_ports()
    probes = Probes(serving_container(), ports)
    root = tmp_path / "mnt-models"
    layout_with_test_ports(root, archives[:1], ports, disable_token_authorization="false")
    args = [a for a in container.torchserve_args(PurePosixPath(root))
            if a != "--disable-token-auth"]
    key_file = tmp_path / "work" / "key_file.json"
    url = f"{address(ports.inference)}{container.READY_PATH}"

    def ready_with_token() -> bool:
        try:
            token = json.loads(key_file.read_text())["inference"]["key"]
            headers = {"Authorization": f"Bearer {token}"}
            return requests.get(url, headers=headers, timeout=5).status_code == 200
        except (OSError, ValueError, KeyError, requests.RequestException):
            return False

    with serving(root, tmp_path / "work", args, tmp_path / "unused"):
        wait_for(ready_with_token, STARTUP_SECONDS, "ready with the generated token")
        assert requests.get(url, timeout=5).status_code == 400
        assert not probes.http("readinessProbe") and not probes.http("livenessProbe")
        refused = probes.startup()
        assert refused.returncode != 0
