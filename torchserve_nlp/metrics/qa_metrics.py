"""SQuAD 2.0 exact match and F1 (the official normalisation: lower case, no punctuation,
no articles, single spaces; an unanswerable question scores 1 only for an empty answer)."""

import collections
import re
import string
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(gold: str, predicted: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(predicted))


def token_f1(gold: str, predicted: str) -> float:
    gold_tokens = normalize_answer(gold).split()
    predicted_tokens = normalize_answer(predicted).split()
    if not gold_tokens or not predicted_tokens:
        return float(gold_tokens == predicted_tokens)
    common = collections.Counter(gold_tokens) & collections.Counter(predicted_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float | int]:
    """Mean exact match and F1 (in [0, 1]) overall, on answerable and on unanswerable ones."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold answers but {len(predicted)} predictions")
    rows = [(g, exact_match(g, p), token_f1(g, p)) for g, p in zip(gold, predicted, strict=True)]
    scores: dict[str, float | int] = {}
    for name, subset in (
        ("", rows),
        ("has_answer_", [r for r in rows if r[0]]),
        ("no_answer_", [r for r in rows if not r[0]]),
    ):
        scores[f"{name}count"] = len(subset)
        if subset:
            scores[f"{name}exact"] = round(sum(r[1] for r in subset) / len(subset), 4)
            scores[f"{name}f1"] = round(sum(r[2] for r in subset) / len(subset), 4)
    return scores
