"""Entity aggregation on hand-made probabilities, one expectation worked out per strategy."""

import numpy as np
import pytest

from nlp_runtime.hf.config import AggregationStrategy as S
from nlp_runtime.postprocess.token_aggregation import (
    TokenWindow,
    extract_entities,
    gather_tokens,
    group_entities,
    merge_overlapping,
)

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
TEXT = "Foo Barbaz x"


def join(tokens: list[str]) -> str:
    return " ".join(tokens).replace(" ##", "")


def row(**probabilities: float) -> list[float]:
    names = {"O": 0, "BPER": 1, "IPER": 2, "BLOC": 3, "ILOC": 4}
    out = [0.0] * len(LABELS)
    for name, p in probabilities.items():
        out[names[name]] = p
    return out


def window(**overrides) -> TokenWindow:
    """[CLS] foo bar ##b ##az x [SEP] [PAD]: the word "barbaz" has three tokens whose
    first, most confident and averaged labels all differ."""
    fields = dict(
        tokens=["[CLS]", "foo", "bar", "##b", "##az", "x", "[SEP]", "[PAD]"],
        scores=np.array(
            [
                row(O=1.0),
                row(BPER=0.7, O=0.3),
                row(IPER=0.5, O=0.3, BLOC=0.2),
                row(BLOC=0.9, O=0.1),
                row(O=0.85, IPER=0.15),
                row(O=0.9, BLOC=0.1),
                row(O=1.0),
                row(BLOC=1.0),
            ]
        ),
        offsets=np.array([[0, 0], [0, 3], [4, 7], [7, 8], [8, 10], [11, 12], [0, 0], [0, 0]]),
        special=np.array([1, 0, 0, 0, 0, 0, 1, 1], dtype=bool),
        unknown=np.zeros(8, dtype=bool),
    )
    return TokenWindow(**{**fields, **overrides})


def entities(strategy: S, ignore=("O",), **overrides) -> list[dict]:
    return extract_entities(TEXT, [window(**overrides)], strategy, LABELS, ignore, join)


def test_none_labels_each_non_special_token():
    assert entities(S.NONE) == [
        {"entity": "B-PER", "score": 0.7, "index": 1, "word": "foo", "start": 0, "end": 3},
        {"entity": "I-PER", "score": 0.5, "index": 2, "word": "bar", "start": 4, "end": 7},
        {"entity": "B-LOC", "score": 0.9, "index": 3, "word": "##b", "start": 7, "end": 8},
    ]


def test_simple_groups_b_then_i_and_splits_words():
    assert entities(S.SIMPLE) == [
        {"entity_group": "PER", "score": pytest.approx(0.6), "word": "foo bar", "start": 0,
         "end": 7},
        {"entity_group": "LOC", "score": 0.9, "word": "##b", "start": 7, "end": 8},
    ]


def test_first_labels_a_word_by_its_first_token():
    assert entities(S.FIRST) == [
        {"entity_group": "PER", "score": pytest.approx(0.6), "word": "foo barbaz", "start": 0,
         "end": 10},
    ]


def test_max_labels_a_word_by_its_most_confident_token():
    assert entities(S.MAX) == [
        {"entity_group": "PER", "score": 0.7, "word": "foo", "start": 0, "end": 3},
        {"entity_group": "LOC", "score": 0.9, "word": "barbaz", "start": 4, "end": 10},
    ]


def test_average_labels_a_word_by_its_mean_probabilities():
    # barbaz: O (0.3+0.1+0.85)/3 = 0.417 beats B-LOC (0.2+0.9)/3 = 0.367: O, so dropped.
    assert entities(S.AVERAGE) == [
        {"entity_group": "PER", "score": 0.7, "word": "foo", "start": 0, "end": 3},
    ]
    kept = entities(S.AVERAGE, ignore=())
    assert kept[1] == {"entity_group": "O", "score": pytest.approx((1.25 / 3 + 0.9) / 2),
                       "word": "barbaz x", "start": 4, "end": 12}


def test_scores_are_python_floats_for_json():
    assert all(type(e["score"]) is float for s in S for e in entities(s))


def test_unknown_token_shows_the_text_and_starts_a_word():
    found = entities(S.FIRST, unknown=np.array([0, 0, 0, 0, 1, 0, 0, 0], dtype=bool))
    # "##az" is now [UNK]: a word of its own, labelled O, so "bar##b" alone joins PER.
    assert [(e["word"], e["end"]) for e in found] == [("foo barb", 8)]
    none = entities(S.NONE, ignore=(), unknown=np.array([0, 0, 0, 0, 1, 0, 0, 0], dtype=bool))
    assert none[3]["word"] == "az"


def test_subwords_without_a_continuing_prefix_use_the_space_heuristic():
    text = "ab cd"
    w = TokenWindow(
        tokens=["a", "b", "cd"], scores=np.eye(3, 5), offsets=np.array([[0, 1], [1, 2], [3, 5]]),
        special=np.zeros(3, dtype=bool), unknown=np.zeros(3, dtype=bool),
    )
    assert [c.is_subword for c in gather_tokens(text, w, word_aware=False)] == [False, True, False]
    assert [c.is_subword for c in gather_tokens(text, w, word_aware=True)] == [False, False, False]


def test_consecutive_b_labels_and_untagged_labels_group_as_the_pipeline_does():
    tokens = [
        {"entity": "B-PER", "score": 0.5, "word": "a", "start": 0, "end": 1},
        {"entity": "B-PER", "score": 0.7, "word": "b", "start": 2, "end": 3},
        {"entity": "PER", "score": 0.9, "word": "c", "start": 4, "end": 5},
        {"entity": "I-LOC", "score": 0.3, "word": "d", "start": 6, "end": 7},
    ]
    groups = group_entities(tokens, join)
    assert [(g["entity_group"], g["word"]) for g in groups] == [
        ("PER", "a"), ("PER", "b c"), ("LOC", "d")
    ]
    assert groups[1]["score"] == pytest.approx(0.8)


def test_overlapping_windows_keep_the_longer_then_the_more_confident_entity():
    def e(start, end, score):
        return {"entity_group": "X", "score": score, "word": "w", "start": start, "end": end}

    merged = merge_overlapping([e(10, 14, 0.5), e(0, 4, 0.9), e(10, 14, 0.8), e(2, 8, 0.1),
                                e(20, 22, 0.3)])
    assert merged == [e(2, 8, 0.1), e(10, 14, 0.8), e(20, 22, 0.3)]
    assert merge_overlapping([]) == []


def test_all_special_window_gives_no_entities():
    w = window(special=np.ones(8, dtype=bool))
    assert all(extract_entities(TEXT, [w], s, LABELS, ("O",), join) == [] for s in S)
