"""scripts/serve end to end: the entrypoint in a subprocess builds the archive, runs the real
TorchServe on free loopback ports, answers SageMaker's /ping and /invocations, and stops on
SIGTERM; with LOCAL=false it fetches model.tar.gz from a real S3-compatible server (moto)."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tests.loopback_s3 import loopback_s3, s3_client
from tests.torchserve_process import free_port
from tests.unit.test_sagemaker_entrypoint import LABELS, save_tiny_classifier, tar_gz
from torchserve_nlp.sagemaker.archive import MODEL_NAME
from torchserve_nlp.sagemaker.settings import PORT_VARIABLES
from torchserve_nlp.serving.torchserve import PID_FILE, NotReady, ServerExited, wait_until_ready

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]
SERVE = REPO_ROOT / "scripts" / "serve"
STARTUP_SECONDS = 300
TEXT = "This is a sentence"
BUCKET, KEY = "serving-models", "classifiers/model.tar.gz"
# Variables of the entrypoint that the test process might have inherited.
ENTRYPOINT_VARIABLES = (
    "LOCAL", "HUB_MODEL_NAME", "TOKENIZER", "SERVERLESS", "BUCKET_NAME", "MODEL_PATH",
    "BIND_ALL", "SERVE_WORK_DIR", *PORT_VARIABLES.values(),
)


@dataclass(frozen=True)
class Served:
    process: subprocess.Popen
    work_dir: Path
    output: Path
    inference_url: str
    management_url: str

    def invoke(self, body: dict) -> requests.Response:
        return requests.post(f"{self.inference_url}/invocations", json=body, timeout=60)

    def workers(self) -> list[dict]:
        response = requests.get(f"{self.management_url}/models/{MODEL_NAME}", timeout=30)
        response.raise_for_status()
        return response.json()[0].get("workers", [])

    def frontend_pid(self) -> int | None:
        """The Java frontend's pid, from the pid file private to this run's work dir."""
        try:
            pid = int((self.work_dir / "tmp" / PID_FILE).read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError, IndexError):
            return None
        ours = "org.pytorch.serve.ModelServer" in cmdline and str(self.work_dir) in cmdline
        return pid if ours else None

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""


def entrypoint_env(overrides: dict[str, str], work_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENTRYPOINT_VARIABLES}
    ports = {variable: str(free_port()) for variable in PORT_VARIABLES.values()}
    return {**env, **ports, "SERVE_WORK_DIR": str(work_dir), "HF_HUB_OFFLINE": "1", **overrides}


def wait_until_serving(served: Served) -> None:
    """Every worker of the model is READY, and /ping answers 200."""
    try:
        wait_until_ready(served.management_url, STARTUP_SECONDS, [MODEL_NAME], served.process)
    except (ServerExited, NotReady) as error:
        details = served.text()[-6000:]
        raise RuntimeError(f"the entrypoint is not serving: {error}:\n{details}") from error
    ping = requests.get(f"{served.inference_url}/ping", timeout=5)
    assert ping.status_code == 200, ping.text


def stop(served: Served) -> None:
    """SIGTERM to the entrypoint, then SIGKILL; and kill TorchServe itself if it outlived it."""
    for signum, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        if served.process.poll() is not None:
            break
        served.process.send_signal(signum)
        try:
            served.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    frontend = served.frontend_pid()
    if frontend is not None:
        try:
            os.killpg(os.getpgid(frontend), signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def serving(overrides: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    work_dir = tmp_path / "work"
    env = entrypoint_env(overrides, work_dir)
    output = tmp_path / "serve.out"
    with open(output, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(SERVE)], cwd=tmp_path, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        served = Served(
            process, work_dir, output,
            f"http://127.0.0.1:{env['SAGEMAKER_BIND_TO_PORT']}",
            f"http://127.0.0.1:{env['SERVE_MANAGEMENT_PORT']}",
        )
        try:
            wait_until_serving(served)
            yield served
        finally:
            stop(served)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def expected_probabilities(model_dir: Path, text: str) -> dict[str, float]:
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        logits = model(**tokenizer([text], truncation=True, max_length=128, return_tensors="pt"))
    probabilities = logits.logits.double().softmax(-1)[0].tolist()
    return dict(zip(LABELS, probabilities, strict=True))


def assert_classified(response: requests.Response, expected: dict[str, float]) -> None:
    assert response.status_code == 200, response.text
    answer = response.json()
    assert list(answer) == LABELS
    assert sum(answer.values()) == pytest.approx(1.0, abs=1e-6)
    for label, probability in expected.items():
        assert answer[label] == pytest.approx(probability, abs=1e-5), (label, answer)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("tiny_classifier"))


@pytest.fixture(scope="module")
def expected(tiny_dir) -> dict[str, float]:
    return expected_probabilities(tiny_dir, TEXT)


def test_local_serverless_model_answers_invocations_and_stops_on_sigterm(
    tiny_dir, expected, tmp_path
):
    env = {"LOCAL": "true", "HUB_MODEL_NAME": str(tiny_dir), "SERVERLESS": "true"}
    with serving(env, tmp_path) as served:
        assert requests.get(f"{served.inference_url}/ping", timeout=10).json() == {
            "status": "Healthy"
        }
        assert_classified(served.invoke({"data": TEXT}), expected)
        explained = served.invoke({"data": TEXT, "explain": True})
        assert explained.status_code == 200, explained.text
        explanation = explained.json()["explanation"]
        assert explanation["method"] == "integrated_gradients" and explanation["text"] == TEXT
        assert all(TEXT[r["start"] : r["end"]] == r["text"] for r in explanation["attributions"])
        assert len(served.workers()) == 1
        properties = (served.work_dir / "config.properties").read_text()
        assert f"inference_address={served.inference_url}\n" in properties  # loopback only

        frontend = served.frontend_pid()
        assert frontend is not None
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=60) == 0
        deadline = time.monotonic() + 15
        while alive(frontend) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(frontend)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{served.inference_url}/ping", timeout=5)
        log = served.text()
        assert "received SIGTERM: stopping TorchServe" in log and "TorchServe stopped" in log
        assert "Traceback" not in log.split("received SIGTERM")[1]


def test_without_serverless_one_worker_per_cpu_core(tiny_dir, expected, tmp_path):
    env = {"LOCAL": "true", "HUB_MODEL_NAME": str(tiny_dir), "SERVERLESS": "false"}
    with serving(env, tmp_path) as served:
        assert len(served.workers()) == os.cpu_count()
        assert_classified(served.invoke({"data": TEXT}), expected)


@pytest.fixture
def s3_server() -> Iterator[dict[str, str]]:
    with loopback_s3() as env:
        yield env


def test_model_fetched_from_s3_is_served(tiny_dir, expected, tmp_path, s3_server):
    client = s3_client(s3_server)
    client.create_bucket(Bucket=BUCKET)
    tarball = tar_gz(tiny_dir, tmp_path / "model.tar.gz")
    client.upload_file(str(tarball), BUCKET, KEY)
    env = {
        "LOCAL": "false", "BUCKET_NAME": BUCKET, "MODEL_PATH": KEY, "SERVERLESS": "true",
        **s3_server,
    }
    with serving(env, tmp_path) as served:
        assert_classified(served.invoke({"data": TEXT}), expected)
        assert len(served.workers()) == 1
        unpacked = served.work_dir / "s3_model"
        assert (unpacked / "model.safetensors").read_bytes() == (
            tiny_dir / "model.safetensors"
        ).read_bytes()
        assert f"downloading s3://{BUCKET}/{KEY}" in served.text()
