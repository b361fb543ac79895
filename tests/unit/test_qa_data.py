"""Deriving SQuAD 2.0 questions from NER tweets, on hand-made tweets whose answers are known."""

import json
import random

import pytest

from torchserve_nlp.data.ner_data import Sentence, read_bio, split
from torchserve_nlp.data.qa_data import (
    QUESTION_KINDS,
    Mention,
    Passage,
    QAExample,
    build_qa_split,
    group_passages,
    make_passage,
    questions,
    to_squad,
    word_spans,
    write_squad,
)

WORDINGS = {kind: wordings for kind, (_, wordings) in QUESTION_KINDS.items()}
ALL_KINDS = set(QUESTION_KINDS)


def tweet(*pairs: str) -> Sentence:
    """``tweet("Obama/B-person", "spoke/O")``: one word/tag per argument."""
    words, tags = zip(*(pair.rsplit("/", 1) for pair in pairs), strict=True)
    return Sentence(words, tags)


def test_word_spans_join_i_tags_and_a_stray_i_opens_a_span():
    tags = ["B-person", "I-person", "O", "I-company", "B-company", "I-company", "I-geo-loc"]
    assert word_spans(tags) == [
        ("person", 0, 2), ("company", 3, 4), ("company", 4, 6), ("geo-loc", 6, 7)
    ]
    assert word_spans(["O", "O"]) == []


def test_passage_joins_words_by_spaces_and_tweets_by_newlines_keeping_offsets():
    passage = make_passage([
        tweet("Empire/B-facility", "State/I-facility", "rocks/O"),
        tweet("Go/O", "New/B-sportsteam", "York/I-sportsteam", "Jets/I-sportsteam", "!/O"),
    ])
    assert passage.text == "Empire State rocks\nGo New York Jets !"
    assert passage.mentions == (Mention("facility", 0, 12), Mention("sportsteam", 22, 35))
    assert [passage.text[m.start : m.end] for m in passage.mentions] == [
        "Empire State", "New York Jets"
    ]


def test_passages_are_consecutive_runs_covering_every_tweet_once():
    tweets = [tweet(f"w{i}/O") for i in range(40)]
    passages = group_passages(tweets, random.Random(5), max_tweets=3)
    lines = [p.text.split("\n") for p in passages]
    assert all(1 <= len(run) <= 3 for run in lines)
    assert {len(run) for run in lines} == {1, 2, 3}
    assert [word for run in lines for word in run] == [f"w{i}" for i in range(40)]


def test_one_question_per_kind_mentioned_exactly_once_answered_by_that_mention():
    passage = make_passage([
        tweet("Obama/B-person", "visited/O", "Paris/B-geo-loc", "and/O", "Lyon/B-geo-loc"),
        tweet("Apple/B-company", "beat/O", "Arsenal/B-sportsteam", "at/O", "Wembley/B-facility"),
        tweet("watching/O", "Friends/B-tvshow", "with/O", "an/O", "iPhone/B-product",
              "and/O", "stuff/B-other"),
    ])
    examples = questions(passage, random.Random(0), impossible_rate=0.0, prefix="p7")
    by_kind = {e.id.removeprefix("p7-"): e for e in examples}
    # place: Paris, Lyon and Wembley; organisation: Apple and Arsenal; music: none.
    assert set(by_kind) == {"person", "show", "product"}
    # lines of 28 and 29 characters, each followed by "\n": the third starts at 59
    for kind, answer, start in (("person", "Obama", 0), ("show", "Friends", 59 + 9),
                                ("product", "iPhone", 59 + 25)):
        example = by_kind[kind]
        assert (example.answer, example.answer_start) == (answer, start)
        assert example.context[start : start + len(answer)] == answer
        assert example.context == passage.text and not example.is_impossible
        assert example.question in WORDINGS[kind]


def test_unanswerable_questions_ask_only_about_kinds_never_mentioned():
    passage = make_passage([tweet("Obama/B-person", "met/O", "Biden/B-person", "in/O",
                                  "Ohio/B-geo-loc", "with/O", "a/O", "Tesla/B-product")])
    absent = ALL_KINDS - {"person", "place", "product"}
    asked = set()
    for seed in range(30):
        examples = questions(passage, random.Random(seed), impossible_rate=1.0, prefix="x")
        [impossible] = [e for e in examples if e.is_impossible]
        kind = impossible.id.removeprefix("x-").removesuffix("-none")
        assert kind in absent and impossible.question in WORDINGS[kind]
        assert (impossible.answer, impossible.answer_start) == ("", -1)
        asked.add(kind)
        # person is mentioned twice: neither answerable nor "unanswerable"
        assert {e.id for e in examples if not e.is_impossible} == {"x-place", "x-product"}
    assert asked == absent
    never = questions(passage, random.Random(0), impossible_rate=0.0, prefix="x")
    assert not any(e.is_impossible for e in never)


def test_a_passage_mentioning_every_kind_gets_no_unanswerable_question():
    passage = make_passage([tweet("Obama/B-person", "Apple/B-company", "Ohio/B-geo-loc",
                                  "Tesla/B-product", "Adele/B-musicartist", "Up/B-movie")])
    examples = questions(passage, random.Random(0), impossible_rate=1.0, prefix="all")
    assert len(examples) == len(QUESTION_KINDS)
    assert not any(e.is_impossible for e in examples)


@pytest.fixture
def ner_txt(tmp_path):
    """60 tweets, each with a unique first word and a person."""
    lines = []
    for i in range(60):
        lines += [f"t{i}\tO", f"Name{i}\tB-person", "said\tO", ""]
    path = tmp_path / "ner.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def tweets_of(examples: list[QAExample]) -> set[str]:
    return {line.split()[0] for e in examples for line in e.context.split("\n")}


def test_split_is_made_on_tweets_before_passages(ner_txt):
    # every passage gets an unanswerable question, so every tweet shows up in some context
    settings = {"held_out": 0.25, "seed": 3, "max_tweets": 4, "impossible_rate": 1.0}
    data = build_qa_split(ner_txt, **settings)
    assert data == build_qa_split(ner_txt, **settings)
    train_tweets, held_tweets = split(read_bio(ner_txt), 0.25, 3)
    assert tweets_of(data.held_out) == {t.words[0] for t in held_tweets}
    assert tweets_of(data.train) == {t.words[0] for t in train_tweets}
    assert tweets_of(data.train).isdisjoint(tweets_of(data.held_out))
    # three groupings of the training tweets, one of the held-out ones
    assert {e.id.split("-")[0] for e in data.train} == {"train0", "train1", "train2"}
    assert {e.id.split("-")[0] for e in data.held_out} == {"held"}
    ids = [e.id for e in data.train + data.held_out]
    assert len(ids) == len(set(ids))


def test_squad_output_groups_questions_by_context(tmp_path):
    first = Passage("Obama spoke", (Mention("person", 0, 5),))
    examples = [
        QAExample("a-person", "Who is mentioned?", first.text, "Obama", 0),
        QAExample("a-place-none", "Where is this about?", first.text, "", -1),
        QAExample("b-product", "What product is named?", "I love my iPhone", "iPhone", 10),
    ]
    expected = {
        "version": "v2.0",
        "data": [{"title": "hand-made", "paragraphs": [
            {"context": "Obama spoke", "qas": [
                {"id": "a-person", "question": "Who is mentioned?",
                 "answers": [{"text": "Obama", "answer_start": 0}], "is_impossible": False},
                {"id": "a-place-none", "question": "Where is this about?", "answers": [],
                 "is_impossible": True},
            ]},
            {"context": "I love my iPhone", "qas": [
                {"id": "b-product", "question": "What product is named?",
                 "answers": [{"text": "iPhone", "answer_start": 10}], "is_impossible": False},
            ]},
        ]}],
    }
    assert to_squad(examples, "hand-made") == expected
    write_squad(tmp_path / "qa.json", examples, "hand-made")
    assert json.loads((tmp_path / "qa.json").read_text()) == expected
