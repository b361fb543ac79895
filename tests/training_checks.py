"""Baselines a quick training run must beat, computed on its own held-out slice."""

import math
from collections import Counter
from collections.abc import Sequence

from torchserve_nlp.data.sentiment_data import LabelledText, Split, read_sentiment_corpus, split
from torchserve_nlp.training import embeddingbag_training


def margin(rate: float, examples: int) -> float:
    """Three standard errors of a rate measured on ``examples`` held-out examples: a model no
    better than the baseline scores this far above it on a sample well under 1% of the time.
    Rates within 0.05 of 0 or 1 count as 0.05 away, so a margin never vanishes."""
    rate = min(max(rate, 0.05), 0.95)
    return 3 * math.sqrt(rate * (1 - rate) / examples)


def majority_accuracy(rows: Sequence[LabelledText]) -> float:
    return max(Counter(row.label for row in rows).values()) / len(rows)


def sliced(data: Split, config: dict) -> tuple[list[LabelledText], list[LabelledText]]:
    """The (train, held-out) rows a sentiment run with this recorded config used."""
    return data.train[: config["train_limit"]], data.test[: config["test_limit"]]


def embeddingbag_held_out(metrics: dict) -> list[LabelledText]:
    """The held-out tweets an EmbeddingBag run with these recorded metrics was scored on."""
    config = metrics["config"]
    data = split(read_sentiment_corpus(embeddingbag_training.LABELS), config["test_fraction"],
                 config["seed"])
    return sliced(data, config)[1]


def assert_beats_majority(accuracy: float, held_out: Sequence[LabelledText]) -> None:
    baseline = majority_accuracy(held_out)
    assert accuracy > baseline + margin(baseline, len(held_out)), (accuracy, baseline)
