"""Span decoding on hand-made logits: no model involved."""

import numpy as np
import pytest

from nlp_runtime.postprocess.qa_spans import (
    Answer,
    AnswerOptions,
    QAWindow,
    extract_answers,
    masked_softmax,
    merge_same_text,
    top_spans,
    window_probabilities,
)

LOW = -20.0
# "[CLS] who ? [SEP] Ann met Bob Smith [SEP]" ; context "Ann met Bob Smith"
CONTEXT = "Ann met Bob Smith"
TOKENS = 9
CONTEXT_MASK = np.array([False, False, False, False, True, True, True, True, False])
OFFSETS = np.array([[0, 0], [0, 3], [3, 4], [0, 0], [0, 3], [4, 7], [8, 11], [12, 17], [0, 0]])
WORDS = [None, 0, 1, None, 0, 1, 2, 3, None]


def logits(**values: float) -> np.ndarray:
    """LOW everywhere but at the given token positions (t0..t8)."""
    row = np.full(TOKENS, LOW)
    for key, value in values.items():
        row[int(key[1:])] = value
    return row


def window(start: np.ndarray, end: np.ndarray, **kwargs) -> QAWindow:
    fields = {"context": CONTEXT_MASK, "offsets": OFFSETS, "word_ids": WORDS, **kwargs}
    return QAWindow(start_logits=start, end_logits=end, **fields)


def test_masked_softmax_ignores_masked_entries_and_sums_to_one():
    probabilities = masked_softmax(np.array([[1.0, 50.0, 2.0]]), np.array([[True, False, True]]))
    assert probabilities[0, 1] == 0.0
    assert probabilities.sum() == pytest.approx(1.0)
    assert probabilities[0, 2] / probabilities[0, 0] == pytest.approx(np.e)


def test_question_tokens_never_answer_even_with_the_highest_logits():
    start, end = logits(t1=30.0, t6=5.0), logits(t2=30.0, t7=5.0)
    (answer,) = extract_answers(CONTEXT, [window(start, end)], AnswerOptions())
    assert (answer.answer, answer.start, answer.end) == ("Bob Smith", 8, 17)
    assert answer.score == pytest.approx(1.0, abs=1e-6)


def test_end_before_start_and_too_long_spans_are_excluded():
    # Best start is after the best end: the best valid span pairs other tokens.
    start, end = logits(t7=9.0, t4=8.0), logits(t4=9.0, t5=1.0)
    probabilities = window_probabilities(start[None], end[None], CONTEXT_MASK[None])
    spans = top_spans(probabilities[0], probabilities[1], CONTEXT_MASK[None], 15, 50)[0]
    assert all(span.start <= span.end for span in spans)
    assert (spans[0].start, spans[0].end) == (4, 4)
    short = top_spans(probabilities[0], probabilities[1], CONTEXT_MASK[None], 2, 50)[0]
    assert all(span.end - span.start < 2 for span in short)
    assert {(s.start, s.end) for s in short} == {(4, 4), (4, 5), (5, 5), (5, 6), (6, 6),
                                                 (6, 7), (7, 7)}


def test_scores_are_products_of_start_and_end_probabilities():
    start, end = logits(t4=2.0, t6=1.0), logits(t5=3.0, t7=0.5)
    s, e, _ = window_probabilities(start[None], end[None], CONTEXT_MASK[None])
    spans = top_spans(s, e, CONTEXT_MASK[None], 15, 3)[0]
    assert [span.score for span in spans] == sorted((span.score for span in spans), reverse=True)
    for span in spans:
        assert span.score == pytest.approx(s[0, span.start] * e[0, span.end])


def test_null_answer_when_cls_dominates_and_impossible_answers_are_allowed():
    start, end = logits(t0=10.0, t6=2.0), logits(t0=10.0, t7=2.0)
    with_null = extract_answers(
        CONTEXT, [window(start, end)], AnswerOptions(handle_impossible_answer=True)
    )
    assert with_null[0] == Answer("", with_null[0].score, 0, 0)
    assert with_null[0].score > 0.99
    (without,) = extract_answers(CONTEXT, [window(start, end)], AnswerOptions())
    assert without.answer == "Bob Smith"


def test_null_score_is_the_minimum_over_windows():
    confident = window(logits(t0=10.0, t4=0.0), logits(t0=10.0, t4=0.0))
    doubtful = window(logits(t0=0.0, t5=3.0), logits(t0=0.0, t5=3.0))
    _, _, nulls = window_probabilities(
        np.stack([confident.start_logits, doubtful.start_logits]),
        np.stack([confident.end_logits, doubtful.end_logits]),
        np.stack([CONTEXT_MASK, CONTEXT_MASK]),
    )
    answers = extract_answers(
        CONTEXT, [confident, doubtful], AnswerOptions(top_k=5, handle_impossible_answer=True)
    )
    (null,) = [a for a in answers if a.answer == ""]
    assert null.score == pytest.approx(nulls.min())
    assert answers[0].answer == "met"


def test_best_span_is_taken_over_windows_with_offsets_into_the_whole_context():
    text = "Ann met Bob Smith. Later Eve met Dan."
    # Window 2 covers "Smith. Later Eve met Dan." : tokens of its own, offsets into `text`.
    first = window(logits(t6=2.0, t5=1.5), logits(t7=2.0, t6=1.5))
    second = QAWindow(
        start_logits=np.array([LOW, LOW, LOW, LOW, LOW, LOW, 6.0, LOW, LOW, LOW]),
        end_logits=np.array([LOW, LOW, LOW, LOW, LOW, LOW, LOW, LOW, 6.0, LOW]),
        context=np.array([False, False, False, False, True, True, True, True, True, False]),
        offsets=np.array([[0, 0], [0, 3], [3, 4], [0, 0], [12, 17], [17, 18], [19, 24],
                          [25, 28], [29, 32], [0, 0]]),
        word_ids=[None, 0, 1, None, 3, 4, 5, 6, 7, None],
    )
    (answer,) = extract_answers(text, [first, second], AnswerOptions())
    assert (answer.answer, answer.start, answer.end) == ("Later Eve met", 19, 32)
    assert text[answer.start : answer.end] == answer.answer


def test_word_alignment_widens_a_subword_span_to_whole_words():
    # "Bob Smithers" where "smithers" is two tokens: smith ##ers
    text = "Ann met Bob Smithers"
    offsets = np.array([[0, 0], [0, 3], [3, 4], [0, 0], [0, 3], [4, 7], [8, 11], [12, 17],
                        [17, 20], [0, 0]])
    mask = np.array([False, False, False, False, True, True, True, True, True, False])
    words = [None, 0, 1, None, 0, 1, 2, 3, 3, None]
    start = np.append(logits(t7=8.0), LOW)
    end = np.append(logits(t7=8.0), LOW)
    piece = QAWindow(start, end, mask, offsets, words)
    (aligned,) = extract_answers(text, [piece], AnswerOptions())
    (raw,) = extract_answers(text, [piece], AnswerOptions(align_to_words=False))
    assert aligned.answer == "Smithers"
    assert raw.answer == "Smith"


def test_top_k_lists_distinct_answers_best_first():
    start, end = logits(t4=3.0, t5=2.5, t6=2.0), logits(t4=3.0, t5=2.5, t7=2.0)
    answers = extract_answers(CONTEXT, [window(start, end)], AnswerOptions(top_k=4))
    assert len(answers) == 4
    assert len({a.answer for a in answers}) == 4
    scores = [a.score for a in answers]
    assert scores == sorted(scores, reverse=True)
    assert answers[0].answer == "Ann"


def test_same_text_from_two_windows_merges_with_summed_score():
    merged = merge_same_text([
        Answer("Bob", 0.25, 8, 11), Answer("Ann", 0.5, 0, 3), Answer("bob", 0.125, 30, 33),
    ])
    assert merged == [Answer("Bob", 0.375, 8, 11), Answer("Ann", 0.5, 0, 3)]


def test_windows_of_different_lengths_are_padded_without_becoming_answers():
    short = QAWindow(
        start_logits=np.array([LOW, LOW, LOW, 4.0, LOW]),
        end_logits=np.array([LOW, LOW, LOW, 4.0, LOW]),
        context=np.array([False, False, False, True, False]),
        offsets=np.array([[0, 0], [0, 3], [0, 0], [0, 3], [0, 0]]),
        word_ids=[None, 0, None, 0, None],
    )
    long = window(logits(t6=1.0), logits(t6=1.0))
    answers = extract_answers(CONTEXT, [short, long], AnswerOptions(top_k=20))
    assert all(CONTEXT[a.start : a.end] == a.answer for a in answers)
    assert answers[0].answer == "Ann"
