"""Pure post-processing for classifiers: logits → probabilities → label dictionaries."""

import json
from pathlib import Path

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a (batch, classes) array, stable for large logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def label_probabilities(probabilities: np.ndarray, labels: list[str]) -> list[dict[str, float]]:
    """One ``{label: probability}`` per row, labels in class-index order."""
    if probabilities.shape[-1] != len(labels):
        raise ValueError(
            f"model gives {probabilities.shape[-1]} classes but {len(labels)} labels are known"
        )
    return [
        {label: float(p) for label, p in zip(labels, row, strict=True)} for row in probabilities
    ]


def read_index_to_name(path: Path, num_classes: int | None = None) -> list[str]:
    """Labels from ``index_to_name.json`` ({"0": "Negative", ...}), in index order."""
    mapping = json.loads(Path(path).read_text(encoding="utf-8"))
    labels = [mapping[str(i)] for i in range(len(mapping))]
    if num_classes is not None and len(labels) != num_classes:
        raise ValueError(f"{path} names {len(labels)} classes, the model has {num_classes}")
    return labels
