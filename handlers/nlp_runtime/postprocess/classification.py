"""Pure post-processing for classifiers: logits → probabilities → label dictionaries.

Torch only (no numpy): the scripted-tokenizer archive must serve on torch + torchserve alone.
"""

import json
from pathlib import Path

import torch


def softmax(logits: torch.Tensor) -> torch.Tensor:
    """Row-wise softmax of a (batch, classes) tensor, computed in float64 for stable output."""
    return torch.softmax(logits.double(), dim=-1)


def label_probabilities(probabilities: torch.Tensor, labels: list[str]) -> list[dict[str, float]]:
    """One ``{label: probability}`` per row, labels in class-index order."""
    if probabilities.shape[-1] != len(labels):
        raise ValueError(
            f"model gives {probabilities.shape[-1]} classes but {len(labels)} labels are known"
        )
    return [dict(zip(labels, row, strict=True)) for row in probabilities.tolist()]


def read_index_to_name(path: Path, num_classes: int | None = None) -> list[str]:
    """Labels from ``index_to_name.json`` ({"0": "Negative", ...}), in index order."""
    mapping = json.loads(Path(path).read_text(encoding="utf-8"))
    labels = [mapping[str(i)] for i in range(len(mapping))]
    if num_classes is not None and len(labels) != num_classes:
        raise ValueError(f"{path} names {len(labels)} classes, the model has {num_classes}")
    return labels
