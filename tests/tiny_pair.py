"""A tiny sentiment classifier and a random QA model, each archived by its task's archive
script: the pair the protocol, metrics and storage tests serve together."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts import archive_question_answering as qa_archive
from scripts import archive_sequence_classifier as seq_archive
from tests.qa_models import random_qa_model
from tests.tiny_handlers import save_tiny_classifier


@dataclass(frozen=True)
class TinyPair:
    seq_dir: Path  # the classifier's save_pretrained directory
    qa_dir: Path
    seq_mar: Path
    qa_mar: Path


def tiny_seq_and_qa(root: Path, **qa_settings: Any) -> TinyPair:
    """Both models under ``root`` and their archives in ``root/built``; ``qa_settings`` go to
    ``random_qa_model`` (max_length, doc_stride, max_windows)."""
    seq_dir = save_tiny_classifier(root / "sentiment" / seq_archive.PRETRAINED)
    qa_dir = random_qa_model(root / "qa", **qa_settings)
    built = root / "built"
    return TinyPair(
        seq_dir, qa_dir,
        seq_archive.archive(seq_dir.parent, built, setup_config=seq_dir / "setup_config.json"),
        qa_archive.archive(qa_dir, built, setup_config=qa_dir / "setup_config.json"),
    )
