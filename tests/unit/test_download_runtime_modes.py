"""scripts/download_transformer_models.py with save_mode onnx, onnx_int8 and bf16: the files
the handler serves, the archiver command to run next, and the handler answering from them."""

import json
import logging

import pytest
import torch
from transformers import AutoTokenizer

from tests.runtime_models import load, tiny_model
from torchserve_nlp.cli.download_transformer_models import main


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return tiny_model("question_answering", tmp_path_factory.mktemp("tiny") / "qa")


@pytest.mark.parametrize(
    ("save_mode", "serialized"),
    [("onnx", "model.onnx"), ("onnx_int8", "model_int8.onnx"), ("bf16", "model.safetensors")],
)
def test_each_runtime_mode_writes_what_its_handler_serves(
    source, tmp_path, caplog, save_mode, serialized
):
    setup = json.loads((source / "setup_config.json").read_text())
    config = tmp_path / "setup.json"
    config.write_text(json.dumps({**setup, "model_name": str(source), "save_mode": save_mode}))
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        assert main([str(config), "--out", str(out)]) == 0
    files = {p.name for p in out.iterdir()}
    assert {serialized, "config.json", "tokenizer.json", "setup_config.json"} <= files
    assert not any(name.endswith(".onnx") and name != serialized for name in files)
    assert f"--model-name BERTQuestionAnswering_{save_mode} " in caplog.text
    assert f"{out.name}/{serialized} --handler" in caplog.text  # --serialized-file
    model, reference = load(out, save_mode), load(source, "pretrained")
    encoded = dict(AutoTokenizer.from_pretrained(out)(
        ["Who came?"], ["Nadella came to Lisbon."], return_tensors="pt"
    ))
    with torch.inference_mode():
        got, want = model.forward(encoded), reference.forward(encoded)
    tolerance = {"onnx": 1e-4, "onnx_int8": 0.1, "bf16": 0.05}[save_mode]
    for g, w in zip(got, want, strict=True):
        assert float((g - w).abs().max()) <= tolerance
