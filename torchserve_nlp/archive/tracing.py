"""Trace a ``save_pretrained`` Transformer into the TorchScript form the handlers serve.

The traced module takes ``(input_ids, attention_mask, token_type_ids)`` and returns the
task's output tensors (one tensor, or a tuple in the order asked). It is traced with eager
attention on a padded batch, so the mask is part of the graph, and checked against the eager
model at shapes other than the traced one before it is returned.
"""

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)
TRACE_TEXTS = ["an example to trace", "and a second, somewhat longer example to trace"]
# Shapes to check the trace at: batch sizes and lengths unlike the traced (2, 11).
CHECK_TEXTS = [
    ["one"],
    ["a single somewhat longer input text, with punctuation and a few more words in it"],
    ["three texts", "of different lengths in one batch", "the third"],
    ["a"] * 5,
]
TOLERANCE = 1e-4


class TensorOutputs(nn.Module):
    """transformers 5 models return output objects; tracing needs tensors."""

    def __init__(self, model: nn.Module, outputs: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.outputs = tuple(outputs)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor
    ) -> Tensor | tuple[Tensor, ...]:
        result = self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        )
        values = tuple(result[name] for name in self.outputs)
        return values[0] if len(values) == 1 else values


def features(tokenizer: Any, texts: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
    encoded = tokenizer(
        list(texts), padding="longest", return_tensors="pt", return_token_type_ids=True
    )
    return encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"]


def trace_pretrained(
    pretrained: Path, auto_class: Any, outputs: Sequence[str], tokenizer: Any
) -> torch.jit.ScriptModule:
    """Trace ``auto_class.from_pretrained(pretrained)``; refuse a trace that differs from the
    eager model by more than 1e-4 at the check shapes."""
    model = auto_class.from_pretrained(
        pretrained, attn_implementation="eager", use_safetensors=True, local_files_only=True
    ).eval()
    wrapper = TensorOutputs(model, outputs).eval()
    example = features(tokenizer, TRACE_TEXTS)
    if bool(example[1].all()):
        raise ValueError("the trace example must be padded, or the mask is traced away")
    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.trace(wrapper, example)
    error = max_difference(traced, wrapper, tokenizer, CHECK_TEXTS)
    if error > TOLERANCE:
        raise RuntimeError(f"traced model differs from eager by {error:.3g} > {TOLERANCE}")
    logger.info("traced %s: max difference from eager %.3g", pretrained, error)
    return traced


def max_difference(
    traced: nn.Module, eager: nn.Module, tokenizer: Any, batches: Sequence[Sequence[str]]
) -> float:
    """Largest absolute output difference over ``batches`` of texts."""
    worst = 0.0
    with torch.no_grad():
        for texts in batches:
            inputs = features(tokenizer, texts)
            expected, actual = eager(*inputs), traced(*inputs)
            if isinstance(expected, Tensor):
                expected, actual = (expected,), (actual,)
            for e, a in zip(expected, actual, strict=True):
                worst = max(worst, float((e - a).abs().max()))
    return worst
