"""The cheapest model directories each handler loads, laid out as TorchServe unpacks an
archive, for tests that reach a handler's error branches rather than check its answers:
random weights, the real uncased vocabulary, built in well under a second each."""

import importlib.util
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_model
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    BertTokenizerFast,
)

from nlp_runtime.tasks.predict_single_model import SPEC_FILE, WEIGHTS_FILE, ModelSpec
from tests.tiny_archive import LengthClassifier
from torchserve_nlp.archive.tracing import trace_pretrained
from torchserve_nlp.data.offline_assets import minilm_dir
from torchserve_nlp.file_names import TRACED_FILE

CLASSIFIER_LABELS = ("Negative", "Positive")
SCRIPTED_FILE = "model_jit.pt"


def write_setup(model_dir: Path, **setup) -> Path:
    (model_dir / "setup_config.json").write_text(json.dumps(setup))
    return model_dir


def save_tiny_classifier(out: Path, **setup) -> Path:
    """A random BERT sequence classifier (labels Negative, Positive) with its setup_config."""
    torch.manual_seed(0)
    tokenizer = BertTokenizerFast(vocab=str(minilm_dir() / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
        id2label=dict(enumerate(CLASSIFIER_LABELS)),
        label2id={label: i for i, label in enumerate(CLASSIFIER_LABELS)},
    )
    out.mkdir(parents=True, exist_ok=True)
    BertForSequenceClassification(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    setup = {"model_name": "tiny-classifier", "mode": "sequence_classification",
             "max_length": 64, **setup}
    return write_setup(out, **setup)


def save_traced_classifier(pretrained: Path, out: Path) -> Path:
    """``pretrained`` (save_tiny_classifier's) as a torchscript archive: the traced module
    (``TRACED_FILE``), tokenizer, config.json and setup_config with save_mode torchscript."""
    shutil.copytree(pretrained, out)
    (out / "model.safetensors").unlink()
    tokenizer = BertTokenizerFast.from_pretrained(pretrained)
    traced = trace_pretrained(pretrained, AutoModelForSequenceClassification, ("logits",),
                              tokenizer)
    torch.jit.save(traced, str(out / TRACED_FILE))
    setup = json.loads((pretrained / "setup_config.json").read_text())
    return write_setup(out, **{**setup, "save_mode": "torchscript"})


def save_scripted_classifier(out: Path, labels: dict[str, str] | None = None) -> Path:
    """tests/tiny_archive's two-class LengthClassifier (``SCRIPTED_FILE``) and its labels."""
    out.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(LengthClassifier().eval()), str(out / SCRIPTED_FILE))
    labels = labels or {"0": "Negative", "1": "Positive"}
    (out / "index_to_name.json").write_text(json.dumps(labels))
    return out


def save_predict_single(out: Path, source: str, class_name: str, file_name: str) -> Path:
    """``class_name`` of ``source`` (its constructor takes no arguments), as package_model
    lays it out: the class's file, predict_single.json and safetensors weights."""
    out.mkdir(parents=True, exist_ok=True)
    model_file = out / file_name
    model_file.write_text(source)
    spec = importlib.util.spec_from_file_location(f"_tiny_{out.name}_{model_file.stem}",
                                                  model_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    save_model(getattr(module, class_name)(), str(out / WEIGHTS_FILE))
    (out / SPEC_FILE).write_text(ModelSpec(file_name, class_name).to_json())
    return out
