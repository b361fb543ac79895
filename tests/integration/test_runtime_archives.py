"""An onnx_int8 archive of the quick-trained sentiment model, built and gated as `make archives`
builds one, served by a real TorchServe: it answers as the same archive does in-process, its
metrics.json holds both held-out scores, and explanations get SHAP or a 400 naming the archive
that can give integrated gradients."""

import json
import zipfile

import pytest
import requests

from tests.torchserve_process import torchserve
from torchserve_nlp.archive.derived_archives import GateOptions, archive_derived
from torchserve_nlp.archive.transformer_archives import TASKS
from torchserve_nlp.serving.local_archive import LocalArchive, LocalRequest

pytestmark = pytest.mark.integration
NAME = "BERTSeqClassification_onnx_int8"
TEXTS = ["I loved every minute of it", "never again, awful", "Café naïve 😀 so good", "meh"]
HELD_OUT = 40  # tweets scored by the gate here (all of them in `make archives`)


@pytest.fixture(scope="module")
def built(quick_sentiment_dir, tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    # The quick model is too weak for the 0.5-point rule on 40 tweets to be a stable test;
    # the flag keeps the build going and the record says whether it passed.
    gate = GateOptions(accept_loss=True, held_out_limit=HELD_OUT)
    return archive_derived(
        TASKS["sequence_classification"], quick_sentiment_dir / "pretrained", store,
        "onnx_int8", gate=gate,
    )


@pytest.fixture(scope="module")
def server(built, tmp_path_factory):
    with torchserve(built.parent, [f"{NAME}={built.name}"], tmp_path_factory.mktemp("ts")) as ts:
        yield ts


def test_metrics_json_holds_the_int8_and_the_fp32_held_out_scores(built):
    with zipfile.ZipFile(built) as archive:
        runtime = json.loads(archive.read("metrics.json"))["runtime"]
        assert "model_int8.onnx" in archive.namelist()
        assert "onnxruntime==" in archive.read("requirements.txt").decode()
    assert runtime["save_mode"] == "onnx_int8" and runtime["metric"] == "accuracy"
    assert runtime["held_out"] == f"{HELD_OUT} tweets"
    assert 0.5 <= runtime["pretrained"] <= 1 and 0.5 <= runtime["onnx_int8"] <= 1
    assert runtime["passed"] is (runtime["pretrained"] - runtime["onnx_int8"] <= 0.005 + 1e-9)


def test_served_answers_equal_the_in_process_handlers(server, built, tmp_path):
    # One request at a time on both sides: int8 activations are quantized per batch.
    served = [server.predict(NAME, data=text.encode()) for text in TEXTS]
    assert all(r.status_code == 200 for r in served), [r.text for r in served]
    with LocalArchive.open(built, tmp_path) as archive:
        local = [archive.handle([LocalRequest(text.encode())])[0].payload for text in TEXTS]
    for response, want in zip(served, local, strict=True):
        got = response.json()
        assert list(got) == ["Negative", "Positive"]
        assert all(got[label] == pytest.approx(want[label], abs=1e-6) for label in want)


def test_explanations_get_shap_or_a_400_naming_the_pretrained_archive(server):
    refused = requests.post(f"{server.inference_url}/explanations/{NAME}",
                            data=TEXTS[0].encode(), timeout=120)
    assert refused.status_code == 400
    assert "ask BERTSeqClassification (its save_mode pretrained form)" in refused.json()["message"]
    shap = server.predict(NAME, json={"data": TEXTS[0], "explain": {"method": "shap",
                                                                     "max_evals": 40}})
    assert shap.status_code == 200, shap.text
    body = shap.json()
    assert body["explanation"]["method"] == "shap"
    assert {r["text"] for r in body["explanation"]["attributions"]} >= {"loved", "minute"}
