"""Small BERT token classifiers on the real uncased vocabulary, saved as the training script
saves one (safetensors, config.json with id2label, tokenizer files, metrics.json and, given
setup keys, a setup_config.json).

* ``save_tiny_ner``: seeded random weights with a scaled classifier, so labels are confident
  and varied: good for comparing aggregation code.
* ``planted_ner_model``: no encoder layers and hand-set embeddings, so the entities are known:
  each vocabulary token of ``PLANTED`` gets its label, every other token "O".
"""

import json
from pathlib import Path

import torch
from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

from torchserve_nlp.data.ner_data import LABELS
from torchserve_nlp.data.offline_assets import minilm_dir

# Vocabulary token -> label. "merkel" and "schwarzenegger" are several pieces (B- then I-);
# "nadella" is "nad" (B-LOC, unsure: B-ORG is RUNNER_UP) + "##ella" (I-ORG, sure), so the
# "first" strategy calls the word LOC while "average" and "max" call it ORG.
PLANTED = {
    "obama": "B-PER", "mer": "B-PER", "##kel": "I-PER",
    "schwarz": "B-PER", "##ene": "I-PER", "##gger": "I-PER",
    "berlin": "B-LOC", "zurich": "B-LOC", "kathmandu": "B-LOC", "reykjavik": "B-LOC",
    "volkswagen": "B-ORG", "microsoft": "B-ORG", "nad": "B-LOC", "##ella": "I-ORG",
}
RUNNER_UP = {"nad": "B-ORG"}  # a second label almost as strong as the planted one
SPIKE, RUNNER_UP_SPIKE = 30.0, 28.0
OUTSIDE_SPIKE = 10.0  # every other token's "O"


def _tokenizer() -> BertTokenizerFast:
    return BertTokenizerFast(vocab=str(minilm_dir() / "vocab.txt"), do_lower_case=True)


def _config(tokenizer: BertTokenizerFast, **sizes) -> BertConfig:
    return BertConfig(
        vocab_size=tokenizer.vocab_size, id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)}, **sizes,
    )


def _save(
    model: BertForTokenClassification, tokenizer, out: Path, metrics: dict, setup: dict
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "metrics.json").write_text(json.dumps(metrics))
    if setup:
        (out / "setup_config.json").write_text(json.dumps(setup))
    return out


def save_tiny_ner(out: Path, max_position_embeddings: int = 128, **setup) -> Path:
    torch.manual_seed(0)
    tokenizer = _tokenizer()
    config = _config(
        tokenizer, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=max_position_embeddings,
    )
    model = BertForTokenClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(40.0)
    return _save(model, tokenizer, out, {"span_f1": 0.0}, setup)


def planted_ner_model(out: Path, **setup) -> Path:
    """Embedding dimension i carries label i; the classifier reads the first len(LABELS)
    dimensions out. Position and segment embeddings are zero, so a token scores the same
    anywhere in any window. setup_config.json holds ``setup`` over serving defaults."""
    torch.manual_seed(0)
    tokenizer = _tokenizer()
    config = _config(
        tokenizer, hidden_size=16, num_hidden_layers=0, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=512,
    )
    model = BertForTokenClassification(config).eval()
    embeddings, n = model.bert.embeddings, len(LABELS)
    with torch.no_grad():
        words = embeddings.word_embeddings.weight
        words.normal_(0.0, 1.0)
        words[:, :n] = -3.0
        words[:, 0] = OUTSIDE_SPIKE
        for token, label in PLANTED.items():
            token_id = tokenizer.convert_tokens_to_ids(token)
            words[token_id, 0] = -3.0
            words[token_id, LABELS.index(label)] = SPIKE
            if token in RUNNER_UP:
                words[token_id, LABELS.index(RUNNER_UP[token])] = RUNNER_UP_SPIKE
        embeddings.position_embeddings.weight.zero_()
        embeddings.token_type_embeddings.weight.zero_()
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.weight[:, :n] = 5.0 * torch.eye(n)
    setup = {"model_name": "planted-ner", "mode": "token_classification", "do_lower_case": True,
             "save_mode": "pretrained", **setup}
    return _save(model, tokenizer, out, {"span_f1": 1.0}, setup)
