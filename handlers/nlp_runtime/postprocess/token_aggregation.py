"""Pure post-processing for token classification: per-token probabilities → entities.

Reproduces the output of transformers' ``TokenClassificationPipeline`` for the aggregation
strategies none, simple, first, average and max, including the merge of overlapping windows
it applies when a long text is split with ``stride``. Everything here works on plain numpy
arrays and strings; the tokenizer only enters through ``join_tokens`` (its
``convert_tokens_to_string``) and the ``word_aware`` flag (it has a continuing-subword prefix).
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlp_runtime.hf.config import AggregationStrategy

JoinTokens = Callable[[list[str]], str]
WORD_STRATEGIES = (AggregationStrategy.FIRST, AggregationStrategy.AVERAGE, AggregationStrategy.MAX)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (labels), shifted by the maximum for stability."""
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class TokenWindow:
    """One model window over a text; every array has one row per token of the window."""

    tokens: Sequence[str]  # vocabulary strings, e.g. "new", "##ark"
    scores: np.ndarray  # (tokens, labels) probabilities
    offsets: np.ndarray  # (tokens, 2) character offsets into the text
    special: np.ndarray  # (tokens,) bool: [CLS], [SEP], padding
    unknown: np.ndarray  # (tokens,) bool: the tokenizer's unknown token
    index_offset: int = 0  # position of this window's first token in the whole text


@dataclass(frozen=True)
class TokenCandidate:
    word: str
    scores: np.ndarray
    start: int
    end: int
    index: int
    is_subword: bool


def gather_tokens(text: str, window: TokenWindow, word_aware: bool) -> list[TokenCandidate]:
    """The window's non-special tokens, with whether each continues the previous word.

    A word-aware tokenizer (WordPiece "##") marks a token as a subword when its vocabulary
    string and the text it covers differ in length; otherwise a token is a subword when it is
    not preceded by a space. An unknown token shows the text it covers and starts a word.
    """
    candidates = []
    for idx in np.flatnonzero(~np.asarray(window.special, dtype=bool)):
        start, end = (int(v) for v in window.offsets[idx])
        word = window.tokens[idx]
        covered = text[start:end]
        if window.unknown[idx]:
            word, is_subword = covered, False
        elif word_aware:
            is_subword = len(word) != len(covered)
        else:
            is_subword = start > 0 and " " not in text[start - 1 : start + 1]
        candidates.append(
            TokenCandidate(word, window.scores[idx], start, end, int(idx), is_subword)
        )
    return candidates


def label_tokens(
    candidates: Sequence[TokenCandidate], labels: Sequence[str], index_offset: int = 0
) -> list[dict[str, Any]]:
    """Each token with its most probable label (strategies none and simple)."""
    if not candidates:
        return []
    scores = np.stack([c.scores for c in candidates])
    best = scores.argmax(axis=-1)
    best_scores = scores[np.arange(len(candidates)), best]
    return [
        {
            "entity": labels[label],
            "score": score,
            "index": c.index + index_offset,
            "word": c.word,
            "start": c.start,
            "end": c.end,
        }
        for c, label, score in zip(candidates, best.tolist(), best_scores, strict=True)
    ]


def split_words(candidates: Sequence[TokenCandidate]) -> list[list[TokenCandidate]]:
    """Consecutive tokens grouped into words: a new word starts at every non-subword token."""
    words: list[list[TokenCandidate]] = []
    for candidate in candidates:
        if words and candidate.is_subword:
            words[-1].append(candidate)
        else:
            words.append([candidate])
    return words


def label_word(
    word: Sequence[TokenCandidate],
    strategy: AggregationStrategy,
    labels: Sequence[str],
    join_tokens: JoinTokens,
) -> dict[str, Any]:
    """One label for all tokens of a word: its first token's, its most confident token's, or
    the argmax of the token probabilities averaged."""
    if strategy is AggregationStrategy.FIRST:
        scores = word[0].scores
    elif strategy is AggregationStrategy.MAX:
        scores = max(word, key=lambda c: c.scores.max()).scores
    elif strategy is AggregationStrategy.AVERAGE:
        scores = np.nanmean(np.stack([c.scores for c in word]), axis=0)
    else:
        raise ValueError(f"strategy {strategy.value!r} does not label whole words")
    label = int(scores.argmax())
    return {
        "entity": labels[label],
        "score": scores[label],
        "word": join_tokens([c.word for c in word]),
        "start": word[0].start,
        "end": word[-1].end,
    }


def bio_tag(label: str) -> tuple[str, str]:
    """("B" or "I", type); a label without a B-/I- prefix continues like an I- label."""
    if label.startswith("B-"):
        return "B", label[2:]
    if label.startswith("I-"):
        return "I", label[2:]
    return "I", label


def group_entities(entities: Sequence[dict[str, Any]], join_tokens: JoinTokens) -> list[dict]:
    """Adjacent tokens/words of one type merged into spans; a B- label always opens a span."""
    groups: list[list[dict[str, Any]]] = []
    for entity in entities:
        bi, tag = bio_tag(entity["entity"])
        if groups and bi != "B" and tag == bio_tag(groups[-1][-1]["entity"])[1]:
            groups[-1].append(entity)
        else:
            groups.append([entity])
    return [
        {
            "entity_group": group[0]["entity"].split("-", 1)[-1],
            "score": np.nanmean([e["score"] for e in group]),
            "word": join_tokens([e["word"] for e in group]),
            "start": group[0]["start"],
            "end": group[-1]["end"],
        }
        for group in groups
    ]


def window_entities(
    text: str,
    window: TokenWindow,
    strategy: AggregationStrategy,
    labels: Sequence[str],
    ignore_labels: Iterable[str],
    join_tokens: JoinTokens,
    word_aware: bool,
) -> list[dict[str, Any]]:
    """The entities of one window, without those whose label is ignored."""
    candidates = gather_tokens(text, window, word_aware)
    if strategy in WORD_STRATEGIES:
        entities = [label_word(w, strategy, labels, join_tokens) for w in split_words(candidates)]
    else:
        entities = label_tokens(candidates, labels, window.index_offset)
    if strategy is not AggregationStrategy.NONE:
        entities = group_entities(entities, join_tokens)
    ignored = set(ignore_labels)
    return [
        e
        for e in entities
        if e.get("entity") not in ignored and e.get("entity_group") not in ignored
    ]


def merge_overlapping(entities: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entities of overlapping windows deduplicated: sorted by start, of two entities where
    the second starts inside the first, the longer wins (on equal length, the higher score)."""
    if not entities:
        return []
    ordered = sorted(entities, key=lambda e: e["start"])
    merged = []
    previous = ordered[0]
    for entity in ordered:
        if previous["start"] <= entity["start"] < previous["end"]:
            length = entity["end"] - entity["start"]
            previous_length = previous["end"] - previous["start"]
            if length > previous_length or (
                length == previous_length and entity["score"] > previous["score"]
            ):
                previous = entity
        else:
            merged.append(previous)
            previous = entity
    merged.append(previous)
    return merged


def extract_entities(
    text: str,
    windows: Sequence[TokenWindow],
    strategy: AggregationStrategy,
    labels: Sequence[str],
    ignore_labels: Iterable[str],
    join_tokens: JoinTokens,
    word_aware: bool = True,
) -> list[dict[str, Any]]:
    """All entities of a text split into ``windows``, with JSON-ready (Python float) scores."""
    ignore = tuple(ignore_labels)
    entities = [
        entity
        for window in windows
        for entity in window_entities(
            text, window, strategy, labels, ignore, join_tokens, word_aware
        )
    ]
    if len(windows) > 1:
        entities = merge_overlapping(entities)
    return [{**e, "score": float(e["score"])} for e in entities]
