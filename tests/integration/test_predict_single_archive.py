"""Issue 5's user story against the real TorchServe: package a predict_single model, serve."""

import importlib.util
import json
import subprocess
import sys
import textwrap
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_model

from tests.torchserve_process import REPO_ROOT, json_of, torchserve
from tests.training_checks import assert_beats_majority, embeddingbag_held_out
from torchserve_nlp import package_model
from torchserve_nlp.archive.packaging import BatchingConfig
from torchserve_nlp.training.embeddingbag_training import (
    CLASS_NAME,
    INIT_ARGS_FILE,
    LABELS,
    MODEL_FILE,
    WEIGHTS_FILE,
)

pytestmark = pytest.mark.integration

USER_MODEL = textwrap.dedent(
    """
    import torch
    from torch import nn


    class HeadlineScorer(nn.Module):
        def __init__(self, dim: int, topics: list[str]) -> None:
            super().__init__()
            self.dim = dim
            self.topics = topics
            self.embedding = nn.Embedding(256, dim)
            self.head = nn.Linear(dim, len(topics))

        def predict_single(self, text: str) -> dict:
            if "forbidden" in text:
                raise ValueError(f"cannot score {text!r}")
            ids = torch.tensor(list(text.encode("utf-8")))
            scores = self.head(self.embedding(ids).mean(0)).softmax(-1)
            return {"topic": self.topics[int(scores.argmax())], "scores": scores}
    """
)
TEXTS = [
    "Liverpool beat Manchester United 4-2",
    "Stocks fall as oil prices climb",
    "New chip doubles battery life",
    "Café naïve résumé — 中文 😀",
    "Election results due tonight",
    "Rain expected across the north",
    "Central bank holds rates",
    "Team signs striker for record fee",
    "Telescope spots distant galaxy",
]
USER = "headline_scorer"
EXAMPLE = "embeddingbag_text_classifier"


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("user")
    path = directory / "model.py"
    path.write_text(USER_MODEL)
    spec = importlib.util.spec_from_file_location("headline_scorer_user_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(3)
    model = module.HeadlineScorer(16, ["sport", "business", "tech", "world"])
    return path, model.eval()


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory):
    """The example archive built by its script with --quick, as `make` would."""
    work = tmp_path_factory.mktemp("embeddingbag")
    subprocess.run(
        [
            sys.executable,
            "scripts/build_embeddingbag_archive.py",
            "--quick",
            "--export-path",
            str(work / "store"),
            "--work-dir",
            str(work / "build"),
        ],
        cwd=REPO_ROOT,
        check=True,
    )
    return work


@pytest.fixture(scope="module")
def server(user_model, example_dir, tmp_path_factory):
    path, model = user_model
    store = example_dir / "store"
    package_model(
        USER, model, path, store, batching=BatchingConfig(batch_size=8, max_batch_delay_ms=200)
    )
    models = [f"{USER}={USER}.mar", f"{EXAMPLE}={EXAMPLE}.mar"]
    with torchserve(store, models, tmp_path_factory.mktemp("ts")) as running:
        yield running


def rebuild_independently(weights: Path, init_args: dict) -> torch.nn.Module:
    """The example model as its file, constructor arguments and safetensors weights give it,
    without the packaging code the server's handler shares."""
    spec = importlib.util.spec_from_file_location("example_model_for_reference", MODEL_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, CLASS_NAME)(**init_args)
    missing, unexpected = load_model(model, str(weights))
    assert not missing and not unexpected
    return model.eval()


def in_process(model, text: str) -> dict:
    with torch.inference_mode():
        result = model.predict_single(text)
    return {"topic": result["topic"], "scores": result["scores"].tolist()}


def assert_matches(got: dict, expected: dict) -> None:
    assert got["topic"] == expected["topic"]
    assert got["scores"] == pytest.approx(expected["scores"], abs=1e-6)


def test_text_body_answers_like_predict_single_in_process(server, user_model):
    _, model = user_model
    response = server.predict(USER, data=TEXTS[0].encode(), headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    assert_matches(response.json(), in_process(model, TEXTS[0]))


def test_concurrent_batch_with_one_failing_input(server, user_model):
    _, model = user_model
    bodies = TEXTS[:4] + ["a forbidden headline"] + TEXTS[4:]
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(lambda t: server.predict(USER, data=t.encode()), bodies))
    for text, response in zip(bodies, responses, strict=True):
        if "forbidden" in text:
            assert response.status_code == 400, response.text
            error = json_of(response)
            assert error["code"] == 400
            assert error["message"] == (
                "HeadlineScorer.predict_single raised ValueError: "
                "cannot score 'a forbidden headline'"
            )
        else:
            assert response.status_code == 200, response.text
            assert_matches(response.json(), in_process(model, text))
    sizes = [len(batch) for batch in server.batches_of(responses)]
    assert max(sizes) >= 4, f"no batch formed: {sizes}"
    assert server.describe(USER)[0]["batchSize"] == 8


def test_plain_curl_form_post_is_refused_with_the_fix(server):
    response = server.predict(USER, data={TEXTS[0]: ""})
    assert response.status_code == 400
    assert "Content-Type: text/plain" in json_of(response)["message"]
    assert "-d 'data=...'" in json_of(response)["message"]


def test_form_field_named_data_is_the_text(server, user_model):
    _, model = user_model
    response = server.predict(USER, data={"data": TEXTS[3]})  # curl -d 'data=...'
    assert response.status_code == 200, response.text
    assert_matches(response.json(), in_process(model, TEXTS[3]))


def test_example_archive_serves_its_sample_like_the_trained_model(server, example_dir):
    build = example_dir / "build"
    init_args = json.loads((build / INIT_ARGS_FILE).read_text())
    model = rebuild_independently(build / WEIGHTS_FILE, init_args)
    texts = [
        (REPO_ROOT / "artifacts" / EXAMPLE / "sample_text.txt").read_text(),
        *TEXTS,
    ]
    with ThreadPoolExecutor(len(texts)) as pool:
        responses = list(
            pool.map(
                lambda t: server.predict(
                    EXAMPLE, data=t.encode(), headers={"Content-Type": "text/plain"}
                ),
                texts,
            )
        )
    for text, response in zip(texts, responses, strict=True):
        assert response.status_code == 200, response.text
        assert response.json() in LABELS
        assert response.json() == model.predict_single(text)
    with zipfile.ZipFile(example_dir / "store" / f"{EXAMPLE}.mar") as mar:
        metrics = json.loads(mar.read("metrics.json"))
        assert "vocab.txt" in mar.namelist()
    assert metrics["train_examples"] == 2000
    assert_beats_majority(metrics["held_out_accuracy"], embeddingbag_held_out(metrics))
