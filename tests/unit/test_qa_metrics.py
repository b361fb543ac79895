"""SQuAD 2.0 exact match and F1 on hand-made answers, expected values worked out by hand."""

import pytest

from torchserve_nlp.metrics.qa_metrics import exact_match, normalize_answer, squad_scores, token_f1


def test_normalisation_drops_case_punctuation_articles_and_extra_spaces():
    assert normalize_answer("  The Quick,  brown FOX! ") == "quick brown fox"
    assert normalize_answer("An apple a day") == "apple day"
    # punctuation goes first, so a hyphenated word closes up; "theatre" keeps its "the"
    assert normalize_answer("Rock-and-roll theatre") == "rockandroll theatre"
    assert normalize_answer("The!") == ""


@pytest.mark.parametrize(("gold", "predicted", "exact", "f1"), [
    ("Barack Obama", "barack obama.", 1.0, 1.0),
    ("the Empire State Building", "Empire State building", 1.0, 1.0),
    # gold new/york/jets, predicted jets: precision 1, recall 1/3, F1 2(1/3)/(4/3)
    ("New York Jets", "the Jets", 0.0, 0.5),
    # gold go/go/team, predicted go/team/team: 2 tokens shared, precision = recall = 2/3
    ("go go team", "go team team", 0.0, 2 / 3),
    # predicted b/c/d/e/f against gold c/d: precision 2/5, recall 1
    ("c d", "b c d e f", 0.0, 2 * (2 / 5) / (2 / 5 + 1)),
    ("Paris", "Lyon", 0.0, 0.0),
    # unanswerable: only the empty answer scores, and an empty answer scores nothing elsewhere
    ("", "", 1.0, 1.0),
    ("", "Obama", 0.0, 0.0),
    ("Obama", "", 0.0, 0.0),
    ("", "the", 1.0, 1.0),  # normalises to nothing, as in the official script
])
def test_exact_match_and_token_f1(gold, predicted, exact, f1):
    assert exact_match(gold, predicted) == exact
    assert token_f1(gold, predicted) == pytest.approx(f1)


def test_scores_average_overall_and_per_answerability():
    gold = ["Obama", "New York Jets", "", ""]
    predicted = ["obama", "the Jets", "", "Paris"]
    # per question: exact 1, 0, 1, 0; F1 1, 1/2, 1, 0
    assert squad_scores(gold, predicted) == {
        "count": 4, "exact": 0.5, "f1": 0.625,
        "has_answer_count": 2, "has_answer_exact": 0.5, "has_answer_f1": 0.75,
        "no_answer_count": 2, "no_answer_exact": 0.5, "no_answer_f1": 0.5,
    }


def test_scores_round_to_four_places_and_omit_empty_subsets():
    assert squad_scores(["a b c", "x"], ["b c", "x"]) == {
        # gold "a b c" loses its article: "b c" matches exactly
        "count": 2, "exact": 1.0, "f1": 1.0,
        "has_answer_count": 2, "has_answer_exact": 1.0, "has_answer_f1": 1.0,
        "no_answer_count": 0,
    }
    assert squad_scores(["go go team", ""], ["go team team", "x"]) == {
        "count": 2, "exact": 0.0, "f1": 0.3333,
        "has_answer_count": 1, "has_answer_exact": 0.0, "has_answer_f1": 0.6667,
        "no_answer_count": 1, "no_answer_exact": 0.0, "no_answer_f1": 0.0,
    }
    with pytest.raises(ValueError, match="2 gold answers but 1 predictions"):
        squad_scores(["a", "b"], ["a"])
