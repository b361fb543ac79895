"""Tiny random Transformers of the three tasks, and their archives in every save mode, for the
CPU-runtime tests (ONNX, ONNX int8, bf16): 2 layers of width 32 on the real uncased
vocabulary, exported in seconds.

``runtime_dir`` lays a model out as TorchServe unpacks its archive in a given save mode: the
save_pretrained files plus the ONNX graph (onnx, onnx_int8) and setup_config.json saying the
mode; ``load`` gives the handler's LoadedModel for it.
"""

import json
import random
import shutil
from pathlib import Path

import torch
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    BertTokenizerFast,
)

from nlp_runtime.hf.config import load_handler_config
from nlp_runtime.hf.model import LoadedModel, load_model
from tests.ner_models import save_tiny_ner
from tests.qa_models import random_qa_model
from torchserve_nlp.archive.onnx_export import export_graph
from torchserve_nlp.archive.transformer_archives import TASKS
from torchserve_nlp.data.offline_assets import minilm_dir

SEQUENCE, QA, NER = "sequence_classification", "question_answering", "token_classification"
CLASSIFIER_LABELS = ("Negative", "Positive")
MAX_LENGTH = 128
SERIALIZED = {
    "pretrained": "model.safetensors", "bf16": "model.safetensors",
    "onnx": "model.onnx", "onnx_int8": "model_int8.onnx",
}


def tiny_classifier(out: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    tokenizer = BertTokenizerFast(vocab=str(minilm_dir() / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, max_position_embeddings=512,
        id2label=dict(enumerate(CLASSIFIER_LABELS)),
        label2id={label: i for i, label in enumerate(CLASSIFIER_LABELS)},
    )
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(10.0)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    setup = {"model_name": "tiny", "mode": SEQUENCE, "max_length": MAX_LENGTH}
    (out / "setup_config.json").write_text(json.dumps(setup))
    return out


def tiny_model(mode: str, out: Path) -> Path:
    """A save_pretrained directory with setup_config.json (save_mode pretrained)."""
    setup = {"model_name": "tiny", "mode": mode, "max_length": MAX_LENGTH, "doc_stride": 32}
    if mode == QA:
        return random_qa_model(out, **{k: v for k, v in setup.items() if k != "model_name"})
    if mode == NER:
        return save_tiny_ner(out, max_position_embeddings=512, **setup)
    return tiny_classifier(out)


def runtime_dir(pretrained: Path, save_mode: str, out: Path) -> Path:
    """``pretrained`` as an unpacked archive of ``save_mode``."""
    shutil.copytree(pretrained, out)
    task = TASKS[json.loads((pretrained / "setup_config.json").read_text())["mode"]]
    if save_mode in ("onnx", "onnx_int8"):
        tokenizer = AutoTokenizer.from_pretrained(pretrained)
        work = out / ".export"
        work.mkdir()
        graph = export_graph(
            save_mode, pretrained, task.auto_class, task.outputs, tokenizer, work,
            per_token=task.mode != SEQUENCE,
        )
        graph.rename(out / SERIALIZED[save_mode])
        shutil.rmtree(work)
    setup = json.loads((out / "setup_config.json").read_text())
    (out / "setup_config.json").write_text(json.dumps({**setup, "save_mode": save_mode}))
    return out


def load(model_dir: Path, save_mode: str, yaml: dict | None = None) -> LoadedModel:
    config = load_handler_config(model_dir, yaml)
    task = TASKS[config.mode.value]
    return load_model(model_dir, config, task.auto_class, task.outputs, SERIALIZED[save_mode])


def random_texts(seed: int, count: int, words: int) -> list[str]:
    """``count`` texts of about ``words`` vocabulary words each (plus accents and emoji)."""
    rng = random.Random(seed)
    vocabulary = [w for w in BertTokenizerFast(
        vocab=str(minilm_dir() / "vocab.txt")
    ).vocab if w.isalpha() and w.isascii()]
    extras = ["Café", "naïve", "😀", "Zürich", "—", "don't"]
    return [
        " ".join(rng.choice(vocabulary + extras) for _ in range(rng.randint(1, words)))
        for _ in range(count)
    ]
