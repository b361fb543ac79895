"""Independent references the tests compare served results against."""

from pathlib import Path

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertTokenizerFast,
    pipeline,
)


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


def pipeline_entities(
    model_dir: Path, text: str, strategy: str, stride: int | None, max_length: int
) -> list[dict]:
    """transformers' token-classification pipeline on the saved model; with ``stride`` it
    windows the text as the handler does (windows of ``max_length`` tokens)."""
    tokenizer = BertTokenizerFast.from_pretrained(model_dir)
    tokenizer.model_max_length = 512 if stride is None else max_length
    model = BertForTokenClassification.from_pretrained(model_dir).eval()
    ner = pipeline("token-classification", model=model, tokenizer=tokenizer, device="cpu")
    kwargs = {} if stride is None else {"stride": stride}
    return ner(text, aggregation_strategy=strategy, **kwargs)


def assert_same_entities(got: list[dict], expected: list[dict]) -> None:
    """Same entities in the same order; scores within 1e-4."""
    assert len(got) == len(expected), (got, expected)
    for g, e in zip(got, expected, strict=True):
        assert {k: v for k, v in g.items() if k != "score"} == {
            k: v for k, v in e.items() if k != "score"
        }, (g, e)
        assert abs(g["score"] - float(e["score"])) <= 1e-4, (g, e)
