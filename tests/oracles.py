"""Independent references the tests compare served results against."""

from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast


def eager_classifier_logits(model_dir: Path, texts: list[str], max_length: int) -> torch.Tensor:
    """The eager HF model (default sdpa attention) fed by the HF tokenizer."""
    model = BertForSequenceClassification(BertConfig.from_pretrained(model_dir))
    model.load_state_dict(torch.load(model_dir / "model.pt", weights_only=True))
    tokenizer = BertTokenizerFast(vocab=str(model_dir / "vocab.txt"), do_lower_case=True)
    encoded = tokenizer(
        texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt"
    )
    with torch.inference_mode():
        return model.eval()(**encoded).logits
