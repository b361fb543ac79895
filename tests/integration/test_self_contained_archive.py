"""The scripted-tokenizer archive serves from a venv holding only torch and torchserve.

PyYAML is added because TorchServe 0.12 imports it without declaring it as a dependency.
"""

import subprocess
import venv
from pathlib import Path

import pytest

from scripts.archive_scriptable_tokenizer import archive
from tests.oracles import eager_classifier_logits
from tests.torchserve_process import torchserve

SERVING_ONLY = ["torch==2.13.0", "torchserve==0.12.0", "pyyaml"]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("bare-venv")
    venv.create(root, with_pip=True)
    subprocess.run([root / "bin" / "python", "-m", "pip", "install", "-q", *SERVING_ONLY],
                   check=True)
    return root


def test_bare_venv_lacks_the_build_toolchain(bare_venv):
    probe = "import importlib.util as u; print([m for m in ('transformers', 'numpy', " \
            "'tokenizers', 'torchserve_nlp') if u.find_spec(m)])"
    found = subprocess.run([bare_venv / "bin" / "python", "-c", probe], check=True,
                           capture_output=True, text=True, cwd=bare_venv).stdout.strip()
    assert found == "[]"


def test_archive_serves_without_project_install(bare_venv, quick_sentiment_dir, tmp_path):
    store = tmp_path / "store"
    archive(quick_sentiment_dir, store)
    text = "Riding in a self-driving taxi was surprisingly relaxing"
    with torchserve(store, ["scriptable_tokenizer=scriptable_tokenizer.mar"], tmp_path / "ts",
                    torchserve_bin=bare_venv / "bin" / "torchserve") as server:
        response = server.predict("scriptable_tokenizer", data=text.encode())
        [worker] = server.describe("scriptable_tokenizer")[0]["workers"]
        worker_python = Path(f"/proc/{worker['pid']}/cmdline").read_bytes().split(b"\0")[0]
    assert response.status_code == 200, response.text
    # The worker that answered ran on the bare venv's Python, not on the project's.
    assert Path(worker_python.decode()).parent == bare_venv / "bin", worker_python
    expected = eager_classifier_logits(quick_sentiment_dir, [text], 128).softmax(-1)[0]
    got = response.json()
    assert abs(got["Negative"] - float(expected[0])) <= 1e-5
    assert abs(got["Positive"] - float(expected[1])) <= 1e-5
