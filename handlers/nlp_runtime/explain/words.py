"""Token attributions → one row per word, with character offsets into the text (pure)."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WordAttribution:
    text: str
    start: int
    end: int
    score: float

    def to_json(self) -> dict[str, str | int | float]:
        return {"text": self.text, "start": self.start, "end": self.end, "score": self.score}


def merge_words(
    text: str,
    scores: np.ndarray,
    word_ids: Sequence[int | None],
    offsets: np.ndarray,
    in_text: np.ndarray,
) -> list[WordAttribution]:
    """Sum the scores of each word's tokens; the word spans from its first token's start to
    its last token's end. Only tokens with ``in_text`` (e.g. the context of a QA pair, not the
    special tokens) count; rows come in text order."""
    spans: dict[int, list[float]] = {}
    for token, word in enumerate(word_ids):
        if word is None or not in_text[token]:
            continue
        start, end = int(offsets[token][0]), int(offsets[token][1])
        if word in spans:
            spans[word][1] = max(spans[word][1], end)
            spans[word][2] += float(scores[token])
        else:
            spans[word] = [start, end, float(scores[token])]
    rows = sorted(spans.values())
    return [WordAttribution(text[int(s) : int(e)], int(s), int(e), score) for s, e, score in rows]
