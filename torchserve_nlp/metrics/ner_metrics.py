"""Span-level precision, recall and F1 for BIO tag sequences (conlleval's definition)."""

from collections.abc import Sequence

Span = tuple[str, int, int]  # (type, first word, last word + 1)


def bio_spans(tags: Sequence[str]) -> set[Span]:
    """The entity spans of one tag sequence. A span opens at B-X, or at I-X that does not
    continue an X span (as conlleval counts it), and runs over the following I-X tags."""
    spans: set[Span] = set()
    kind, start = None, 0
    for position, tag in enumerate([*tags, "O"]):
        prefix, _, tag_type = tag.partition("-")
        continues = prefix == "I" and tag_type == kind
        if kind is not None and not continues:
            spans.add((kind, start, position))
            kind = None
        if prefix in ("B", "I") and not continues:
            kind, start = tag_type, position
    return spans


def span_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro-averaged exact-match span scores over sentences; 0.0 where undefined."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    true_positives = gold_count = predicted_count = 0
    for gold_tags, predicted_tags in zip(gold, predicted, strict=True):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError("a predicted sentence has a different length than its gold one")
        gold_spans, predicted_spans = bio_spans(gold_tags), bio_spans(predicted_tags)
        true_positives += len(gold_spans & predicted_spans)
        gold_count += len(gold_spans)
        predicted_count += len(predicted_spans)
    precision = true_positives / predicted_count if predicted_count else 0.0
    recall = true_positives / gold_count if gold_count else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold_spans": gold_count,
            "predicted_spans": predicted_count}
