"""Scoring an archive's answers on its held-out set (metrics.archive_eval), and finding that
set again from a training run's output (data.held_out)."""

import json

import pytest

from torchserve_nlp.data.held_out import NoHeldOutSet, held_out_set, sentence_text
from torchserve_nlp.data.ner_data import Sentence
from torchserve_nlp.data.qa_data import QAExample, write_squad
from torchserve_nlp.data.sentiment_data import LabelledText, read_binary_sentiment, split
from torchserve_nlp.metrics.archive_eval import (
    request_for,
    score_accuracy,
    score_ner,
    score_qa,
    word_tags,
)


def test_accuracy_reads_the_most_probable_label():
    examples = [LabelledText("a", 1), LabelledText("b", 0), LabelledText("c", 0)]
    answers = [{"Negative": 0.2, "Positive": 0.8}, {"Negative": 0.6, "Positive": 0.4},
               {"Negative": 0.3, "Positive": 0.7}]
    score = score_accuracy(examples, answers)
    assert (score.metric, score.value, score.units) == ("accuracy", 2 / 3, 3)


def test_qa_scores_are_squad_f1_with_the_null_answer():
    examples = [QAExample("1", "Who?", "Obama spoke", "Obama", 0),
                QAExample("2", "Where?", "Obama spoke", "", -1)]
    score = score_qa(examples, [{"answer": "Obama spoke"}, {"answer": ""}])
    assert score.metric == "f1" and score.value == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    request = request_for("question_answering", examples[0]).body
    assert request["parameters"] == {"handle_impossible_answer": True}


def test_ner_tags_each_word_by_the_token_at_its_start():
    sentence = Sentence(("Barack", "Obama", "in", "Zürich"),
                        ("B-PER", "I-PER", "O", "B-LOC"))
    text, spans = sentence_text(sentence)
    assert text == "Barack Obama in Zürich" and spans[3] == (16, 22)
    entities = [  # strategy "none": one row per token; "##rich" is a later piece of a word
        {"entity": "B-PER", "start": 0, "end": 6}, {"entity": "I-PER", "start": 7, "end": 12},
        {"entity": "B-LOC", "start": 16, "end": 18}, {"entity": "I-LOC", "start": 18, "end": 22},
    ]
    assert word_tags(spans, entities) == ["B-PER", "I-PER", "O", "B-LOC"]
    score = score_ner([sentence], [entities])
    assert (score.metric, score.value, score.units) == ("span_f1", 1.0, 2)
    body = request_for("token_classification", sentence).body
    assert body["parameters"] == {"aggregation_strategy": "none", "ignore_labels": ["O"]}


def test_the_sentiment_held_out_set_is_the_training_split(tmp_path):
    config = {"seed": 13, "test_fraction": 0.1, "test_limit": 50}
    (tmp_path / "metrics.json").write_text(json.dumps({"config": config}))
    held = held_out_set("sequence_classification", tmp_path)
    assert list(held.examples) == split(read_binary_sentiment(), 0.1, 13).test[:50]
    assert len(held.first(7).examples) == 7


def test_the_qa_held_out_set_is_read_back_from_its_squad_file(tmp_path):
    examples = [QAExample("h-1", "Who?", "Obama spoke", "Obama", 0),
                QAExample("h-2", "Where?", "Obama spoke", "", -1)]
    write_squad(tmp_path / "qa_held_out.squad.json", examples, "t")
    (tmp_path / "metrics.json").write_text("{}")
    assert list(held_out_set("question_answering", tmp_path).examples) == examples


def test_no_held_out_set_says_why(tmp_path):
    with pytest.raises(NoHeldOutSet, match="no metrics.json"):
        held_out_set("token_classification", tmp_path)
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(NoHeldOutSet, match="'settings'"):
        held_out_set("token_classification", tmp_path)
    with pytest.raises(NoHeldOutSet, match="qa_held_out.squad.json is missing"):
        held_out_set("question_answering", tmp_path)
