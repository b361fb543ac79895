"""Answer-span decoding for extractive QA, with the semantics of transformers 4.x's
``QuestionAnsweringPipeline`` (its last release, 4.57):

* per window, start and end logits are soft-maxed over the context tokens and [CLS] only;
* the null answer's score is start[CLS] * end[CLS], its minimum over the windows;
* a span is (start ≤ end < start + max_answer_len), both inside the context, scored
  start_p * end_p; each window offers its ``top_k * 2 + 10`` best (fewer survive alignment);
* spans become character offsets into the context, widened to whole words by default;
* answers of equal text (case-insensitive) from different spans or windows are merged,
  summing their scores, at the position seen first.

Probabilities are computed in float32, as the pipeline does, so that near-ties (an answer
found by two overlapping windows) break the same way. Unlike the pipeline, spans outside the
context are never offered, even when a window has
fewer candidates than asked for (the pipeline may then return zero-score fragments).
Pure functions over NumPy arrays, testable on hand-made logits.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CLS_INDEX = 0  # BERT-style pairs put [CLS] first: it stands for "no answer"


@dataclass(frozen=True)
class QAWindow:
    """One window of (question, context) tokens and the model's logits for it."""

    start_logits: np.ndarray  # [tokens]
    end_logits: np.ndarray  # [tokens]
    context: np.ndarray  # bool [tokens]: token belongs to the context
    offsets: np.ndarray  # int [tokens, 2]: character span of each token in its own text
    word_ids: Sequence[int | None]  # word of each token in its own text


@dataclass(frozen=True)
class AnswerOptions:
    top_k: int = 1
    max_answer_len: int = 15
    handle_impossible_answer: bool = False
    align_to_words: bool = True


@dataclass(frozen=True)
class Answer:
    answer: str
    score: float
    start: int
    end: int

    def to_json(self) -> dict[str, str | float | int]:
        return {"answer": self.answer, "score": self.score, "start": self.start, "end": self.end}


def masked_softmax(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Softmax along the last axis over ``allowed`` entries; the others get probability 0."""
    masked = np.where(allowed, logits.astype(np.float32), np.float32(-np.inf))
    shifted = np.exp(masked - masked.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def window_probabilities(
    start_logits: np.ndarray, end_logits: np.ndarray, context: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[windows, tokens]`` logits → (start_p, end_p, null) with [CLS] zeroed in start_p and
    end_p after the softmax, and null[w] = start_p[w, CLS] * end_p[w, CLS] before that."""
    allowed = np.array(context, dtype=bool, copy=True)
    allowed[:, CLS_INDEX] = True
    start = masked_softmax(start_logits, allowed)
    end = masked_softmax(end_logits, allowed)
    null = start[:, CLS_INDEX] * end[:, CLS_INDEX]
    start[:, CLS_INDEX] = 0.0
    end[:, CLS_INDEX] = 0.0
    return start, end, null


@dataclass(frozen=True)
class TokenSpan:
    window: int
    start: int
    end: int  # inclusive, as the model's end position
    score: float


def top_spans(
    start: np.ndarray, end: np.ndarray, context: np.ndarray, max_answer_len: int, k: int
) -> list[list[TokenSpan]]:
    """Per window, its ``k`` best spans inside the context, best first."""
    tokens = start.shape[1]
    index = np.arange(tokens)
    length = index[None, :] - index[:, None]
    shape_ok = (length >= 0) & (length < max_answer_len)
    valid = shape_ok[None] & context[:, :, None] & context[:, None, :]
    outer = start[:, :, None] * end[:, None, :]
    scores = np.where(valid, outer, np.float32(-1.0)).reshape(len(start), -1)
    k = min(k, scores.shape[1])
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    best_scores = np.take_along_axis(scores, best, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    spans = []
    for window, (flat, values) in enumerate(
        zip(np.take_along_axis(best, order, 1), np.take_along_axis(best_scores, order, 1),
            strict=True)
    ):
        starts, ends = np.divmod(flat, tokens)
        spans.append([
            TokenSpan(window, int(s), int(e), float(v))
            for s, e, v in zip(starts, ends, values, strict=True) if v >= 0.0
        ])
    return spans


def char_span(window: QAWindow, span: TokenSpan, align_to_words: bool) -> tuple[int, int]:
    """Character offsets of a token span in the context, widened to whole words if asked."""
    if not align_to_words:
        return int(window.offsets[span.start, 0]), int(window.offsets[span.end, 1])
    words = np.array([-1 if w is None else w for w in window.word_ids])
    in_context = window.context.astype(bool)
    first = np.flatnonzero(in_context & (words == words[span.start]))[0]
    last = np.flatnonzero(in_context & (words == words[span.end]))[-1]
    return int(window.offsets[first, 0]), int(window.offsets[last, 1])


def merge_same_text(candidates: Sequence[Answer]) -> list[Answer]:
    """Candidates in order; an answer whose text (case-insensitive) was seen adds its score
    to the first one."""
    merged: list[Answer] = []
    position: dict[str, int] = {}
    for candidate in candidates:
        key = candidate.answer.lower()
        if key in position:
            first = merged[position[key]]
            merged[position[key]] = Answer(
                first.answer, first.score + candidate.score, first.start, first.end
            )
        else:
            position[key] = len(merged)
            merged.append(candidate)
    return merged


def extract_answers(
    context_text: str, windows: Sequence[QAWindow], options: AnswerOptions
) -> list[Answer]:
    """The ``top_k`` answers (best first) over all windows of one question."""
    if not windows:
        raise ValueError("no windows to decode")
    width = max(len(w.start_logits) for w in windows)
    start_logits = _stack([w.start_logits for w in windows], width, 0.0)
    end_logits = _stack([w.end_logits for w in windows], width, 0.0)
    context = _stack([w.context for w in windows], width, False).astype(bool)
    start, end, null = window_probabilities(start_logits, end_logits, context)
    per_window = options.top_k * 2 + 10 if options.align_to_words else options.top_k
    candidates = []
    for spans in top_spans(start, end, context, options.max_answer_len, per_window):
        for span in spans:
            first, last = char_span(windows[span.window], span, options.align_to_words)
            candidates.append(Answer(context_text[first:last], span.score, first, last))
    answers = merge_same_text(candidates)
    if options.handle_impossible_answer:
        answers.append(Answer("", float(null.min()), 0, 0))
    return sorted(answers, key=lambda a: a.score, reverse=True)[: options.top_k]


def _stack(rows: Sequence[np.ndarray], width: int, fill: float | bool) -> np.ndarray:
    out = np.full((len(rows), width), fill, dtype=np.asarray(rows[0]).dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out
