"""Every quick training run learns: the held-out metric it writes to ``metrics.json`` beats the
best trivial predictor of that same held-out slice by a clear margin.

The held-out slices are rebuilt here from the settings the run recorded (their sizes checked
against the run's), so each baseline is computed on exactly what the run was scored on. Splits
are made on corpus rows, before any limit, so the slices share no row; the corpora repeat a few
retweets, though, so a held-out text can also be a training text (1 in 400 for sentiment, 9 in
400 for EmbeddingBag, 1 in 150 for NER, none for QA, which checks it). The sentiment and NER
runs are the session fixtures other tests use.
"""

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.training_checks import (
    assert_beats_majority,
    embeddingbag_held_out,
    majority_accuracy,
    margin,
    sliced,
)
from torchserve_nlp.data.ner_data import read_bio
from torchserve_nlp.data.ner_data import split as split_sentences
from torchserve_nlp.data.offline_assets import optimus_ner_txt
from torchserve_nlp.data.qa_data import build_qa_split
from torchserve_nlp.data.sentiment_data import (
    LabelledText,
    read_binary_sentiment,
    split,
)
from torchserve_nlp.metrics.ner_metrics import bio_spans, span_f1
from torchserve_nlp.metrics.qa_metrics import squad_scores
from torchserve_nlp.training import embeddingbag_training, qa_training


def metrics_of(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def test_sentiment_split_is_disjoint_and_complete():
    rows = [LabelledText(str(i), i % 2) for i in range(50)]
    data = split(rows, 0.2, seed=3)
    assert len(data.test) == 10 and set(data.train).isdisjoint(data.test)
    assert sorted(data.train + data.test, key=lambda r: int(r.text)) == rows


def test_quick_sentiment_run_beats_the_majority_class(quick_sentiment_dir):
    metrics = metrics_of(quick_sentiment_dir)
    config = metrics["config"]
    corpus = read_binary_sentiment()
    train_rows, held_out = sliced(split(corpus, config["test_fraction"], config["seed"]), config)
    assert (metrics["train_examples"], metrics["test_examples"]) == (
        len(train_rows), len(held_out))
    assert metrics["majority_class_accuracy"] == round(majority_accuracy(held_out), 4)
    assert_beats_majority(metrics["held_out_accuracy"], held_out)


def test_quick_embeddingbag_run_beats_the_majority_class(tmp_path):
    config = embeddingbag_training.quick(tmp_path)
    embeddingbag_training.train(config, embeddingbag_training.load_example_module())
    metrics = metrics_of(tmp_path)
    held_out = embeddingbag_held_out(metrics)
    assert metrics["test_examples"] == len(held_out)
    assert_beats_majority(metrics["held_out_accuracy"], held_out)


def test_quick_ner_run_finds_entities_in_held_out_tweets(quick_ner_dir):
    """Tagging nothing scores span F1 0; tagging every capitalised word (but the first) as the
    most frequent training type is the trivial baseline that finds something."""
    metrics = metrics_of(quick_ner_dir)
    settings = metrics["settings"]
    train, held_out = split_sentences(read_bio(optimus_ner_txt()), settings["held_out"],
                                      settings["seed"])
    train, held_out = train[: settings["limit_train"]], held_out[: settings["limit_held_out"]]
    assert metrics["held_out_sentences"] == len(held_out)
    kinds = Counter(tag[2:] for sentence in train for tag in sentence.tags if tag[0] == "B")
    guess = f"B-{kinds.most_common(1)[0][0]}"
    capitalised = [
        [guess if i and word[:1].isupper() else "O" for i, word in enumerate(sentence.words)]
        for sentence in held_out
    ]
    baseline = span_f1([s.tags for s in held_out], capitalised)["f1"]
    scores = metrics["held_out_span"]
    assert scores["gold_spans"] == sum(len(bio_spans(s.tags)) for s in held_out)
    assert scores["f1"] > baseline + margin(baseline, scores["gold_spans"]), (scores, baseline)


@pytest.fixture(scope="module")
def quick_qa_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("qa")
    qa_training.train(qa_training.quick(out))
    return out


def test_quick_qa_run_finds_answers_without_losing_to_answering_nothing(quick_qa_dir):
    """Answering nothing is the best trivial QA baseline overall (over half the held-out
    questions are unanswerable) and scores 0 on answerable ones, where always answering with
    the first word is the trivial alternative. The quick run must find answers well beyond
    that, and not pay for it on unanswerable questions more than it gains."""
    metrics = metrics_of(quick_qa_dir)
    settings = metrics["settings"]
    data = build_qa_split(optimus_ner_txt(), held_out=settings["held_out"], seed=settings["seed"],
                          max_tweets=settings["max_tweets"])
    held_out = data.held_out[: settings["limit_held_out"]]
    trained_on = {tweet for e in data.train[: settings["limit_train"]]
                  for tweet in e.context.split("\n")}
    assert not any(tweet in trained_on for e in held_out for tweet in e.context.split("\n"))
    gold = [example.answer for example in held_out]
    nothing = squad_scores(gold, [""] * len(gold))
    first_word = squad_scores(gold, [example.context.split()[0] for example in held_out])
    scores = metrics["held_out"]
    assert (scores["count"], scores["has_answer_count"]) == (
        len(held_out), nothing["has_answer_count"])
    answerable = scores["has_answer_count"]
    trivial = max(first_word["has_answer_exact"], nothing["has_answer_exact"])
    assert scores["has_answer_exact"] > trivial + margin(trivial, answerable), (scores, trivial)
    assert scores["f1"] >= nothing["f1"], (scores, nothing)
