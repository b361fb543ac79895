"""Reading, mapping, splitting and subword-labelling the NER tweets."""

import pytest

from torchserve_nlp.data.ner_data import (
    IGNORED,
    LABELS,
    Sentence,
    coarse_tag,
    first_token_tags,
    read_bio,
    split,
    subword_labels,
)


def test_wnut_types_map_to_four_coarse_types():
    assert [coarse_tag(t) for t in ("O", "B-person", "I-company", "B-sportsteam", "I-geo-loc",
                                    "B-facility", "I-tvshow", "B-product")] == [
        "O", "B-PER", "I-ORG", "B-ORG", "I-LOC", "B-LOC", "I-MISC", "B-MISC"]
    with pytest.raises(ValueError, match="B-planet"):
        coarse_tag("B-planet")


def test_read_bio_splits_on_blank_and_tab_only_lines(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text("Empire\tB-facility\nState\tI-facility\n\t\n\nhi\tO\n:)\tO\n")
    assert read_bio(path) == [
        Sentence(("Empire", "State"), ("B-LOC", "I-LOC")), Sentence(("hi", ":)"), ("O", "O"))
    ]
    path.write_text("no tab here\n")
    with pytest.raises(ValueError, match="ner.txt:1"):
        read_bio(path)


def test_split_is_seeded_disjoint_and_complete():
    sentences = [Sentence((str(i),), ("O",)) for i in range(50)]
    train, held = split(sentences, 0.2, seed=3)
    assert (train, held) == split(sentences, 0.2, seed=3)
    assert len(held) == 10 and set(train).isdisjoint(held)
    assert sorted(train + held, key=lambda s: int(s.words[0])) == sentences
    assert split(sentences, 0.2, seed=4)[1] != held


def test_later_subwords_continue_the_word_type():
    label = {name: i for i, name in enumerate(LABELS)}
    word_ids = [None, 0, 0, 1, 2, 2, None]
    tags = ["B-PER", "O", "B-LOC"]
    assert subword_labels(word_ids, tags) == [
        IGNORED, label["B-PER"], label["I-PER"], label["O"], label["B-LOC"], label["I-LOC"],
        IGNORED,
    ]
    assert first_token_tags(word_ids, [0, 1, 2, 0, 5, 6, 0], words=4) == [
        "B-PER", "O", "B-LOC", "O"
    ]
