"""A small seeded BERT token classifier on the real uncased vocabulary, saved as the training
script saves one; its classifier is scaled so labels are confident and varied."""

import json
from pathlib import Path

import torch
from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

from torchserve_nlp.ner_data import LABELS
from torchserve_nlp.offline_assets import minilm_dir


def save_tiny_ner(out: Path, max_position_embeddings: int = 128, **setup) -> Path:
    """Weights, config.json, tokenizer files, metrics.json and (with ``setup``) a
    setup_config.json holding those keys."""
    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizerFast(vocab=str(minilm_dir() / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=max_position_embeddings,
        id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)},
    )
    model = BertForTokenClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(40.0)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "metrics.json").write_text(json.dumps({"span_f1": 0.0}))
    if setup:
        (out / "setup_config.json").write_text(json.dumps(setup))
    return out
