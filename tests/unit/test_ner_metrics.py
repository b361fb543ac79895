"""Span F1 on hand-made tag sequences."""

import pytest

from torchserve_nlp.metrics.ner_metrics import bio_spans, span_f1


def test_spans_open_at_b_or_at_an_i_that_does_not_continue():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG", "B-ORG", "B-ORG"]
    assert bio_spans(tags) == {
        ("PER", 0, 2), ("LOC", 3, 5), ("LOC", 5, 6), ("ORG", 6, 7), ("ORG", 7, 8), ("ORG", 8, 9)
    }
    assert bio_spans(["O", "O"]) == set()
    assert bio_spans(["I-MISC"]) == {("MISC", 0, 1)}


def test_partial_and_mistyped_spans_do_not_count():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "O", "O", "B-LOC"], ["B-MISC", "O"]]
    scores = span_f1(gold, predicted)
    # one of three predicted spans is right, one of three gold spans is found
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(1 / 3)


def test_perfect_empty_and_mismatched():
    gold = [["B-PER", "I-PER"], ["O"]]
    assert span_f1(gold, gold)["f1"] == 1.0
    assert span_f1([["O"]], [["O"]])["f1"] == 0.0
    assert span_f1(gold, [["O", "O"], ["O"]])["recall"] == 0.0
    with pytest.raises(ValueError):
        span_f1(gold, [["O"]])
    with pytest.raises(ValueError):
        span_f1([["O"]], [["O", "O"]])
