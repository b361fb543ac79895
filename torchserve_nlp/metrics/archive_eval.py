"""Score a built .mar on its task's held-out set, through the archive's own handler.

The archive is loaded in-process exactly as a TorchServe worker loads it (serving.local_archive)
and sent the held-out examples as requests in batches of its ``batchSize``, so the score is
that of the runtime the archive serves with (eager, bf16, TorchScript or ONNX Runtime), its
tokenization, windows and decoding included. The scores are the training scripts' metrics:

* sequence classification: accuracy of the most probable label;
* question answering: SQuAD 2.0 F1 (and exact match), the null answer allowed, as
  training scored it;
* token classification: micro span F1 over word-level BIO tags, each word tagged by its first
  token's label (strategy "none"), as training scored it.
"""

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchserve_nlp.data.held_out import HeldOut, sentence_text
from torchserve_nlp.data.sentiment_data import LABELS as SENTIMENT_LABELS
from torchserve_nlp.metrics.ner_metrics import span_f1
from torchserve_nlp.metrics.qa_metrics import squad_scores
from torchserve_nlp.serving.local_archive import LocalArchive, LocalRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Score:
    metric: str  # "accuracy", "f1" (QA) or "span_f1" (NER)
    value: float  # in [0, 1]
    # What one held-out example's change is measured against: examples, or gold spans (NER).
    units: int
    unit_name: str  # "tweets", "questions", "entities"
    details: dict[str, Any]


def request_for(mode: str, example: Any) -> LocalRequest:
    if mode == "sequence_classification":
        return LocalRequest({"data": example.text})
    if mode == "question_answering":
        return LocalRequest({
            "question": example.question, "context": example.context,
            "parameters": {"handle_impossible_answer": True},
        })
    text, _ = sentence_text(example)
    return LocalRequest({
        "data": text, "parameters": {"aggregation_strategy": "none", "ignore_labels": ["O"]},
    })


def score_accuracy(examples: Sequence[Any], answers: Sequence[Any]) -> Score:
    correct = sum(
        max(answer, key=answer.get) == SENTIMENT_LABELS[example.label]
        for example, answer in zip(examples, answers, strict=True)
    )
    return Score(
        "accuracy", correct / len(examples), len(examples), "tweets",
        {"correct": correct, "examples": len(examples)},
    )


def score_qa(examples: Sequence[Any], answers: Sequence[Any]) -> Score:
    scores = squad_scores([e.answer for e in examples], [a["answer"] for a in answers])
    return Score("f1", scores["f1"], len(examples), "questions", scores)


def word_tags(spans: Sequence[tuple[int, int]], entities: Sequence[dict]) -> list[str]:
    """Each word's tag: the label of the token starting where the word starts, else O."""
    by_start = {}
    for entity in entities:
        by_start.setdefault(entity["start"], entity["entity"])
    return [by_start.get(start, "O") for start, _ in spans]


def score_ner(examples: Sequence[Any], answers: Sequence[Any]) -> Score:
    predicted = [
        word_tags(sentence_text(example)[1], entities)
        for example, entities in zip(examples, answers, strict=True)
    ]
    scores = span_f1([example.tags for example in examples], predicted)
    return Score("span_f1", scores["f1"], max(1, scores["gold_spans"]), "entities", scores)


SCORERS: dict[str, Callable[[Sequence[Any], Sequence[Any]], Score]] = {
    "sequence_classification": score_accuracy,
    "question_answering": score_qa,
    "token_classification": score_ner,
}


@contextmanager
def quiet_worker_logs() -> Iterator[None]:
    """No INFO records while the held-out set runs: the worker and the handler log a few
    lines per batch (TorchServe's on the root logger)."""
    before = logging.root.manager.disable
    logging.disable(max(before, logging.INFO))
    try:
        yield
    finally:
        logging.disable(before)


def evaluate_archive(mar: Path, held_out: HeldOut, work_dir: Path) -> Score:
    """``mar``'s score on ``held_out``; RuntimeError if it fails to answer an example."""
    started = time.monotonic()
    answers: list[Any] = []
    with LocalArchive.open(mar, work_dir) as archive, quiet_worker_logs():
        requests = [request_for(held_out.mode, example) for example in held_out.examples]
        for begin in range(0, len(requests), archive.batch_size):
            for response in archive.handle(requests[begin : begin + archive.batch_size]):
                if response.status != 200:
                    raise RuntimeError(
                        f"{Path(mar).name} answered held-out example {len(answers)} with "
                        f"{response.status}: {response.body[:300]!r}"
                    )
                answers.append(response.payload)
    score = SCORERS[held_out.mode](held_out.examples, answers)
    logger.info(
        "%s: held-out %s %.4f on %d %s (%.0f s)", Path(mar).name, score.metric, score.value,
        len(held_out.examples), score.unit_name, time.monotonic() - started,
    )
    return score
