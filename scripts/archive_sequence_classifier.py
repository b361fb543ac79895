"""Package the fine-tuned sentiment model as ``<export-path>/BERTSeqClassification.mar``.

    python scripts/archive_sequence_classifier.py build/sentiment --export-path model_store \
        [--torchscript]

A thin wrapper around ``torchserve_nlp.cli.archive_sequence_classifier``,
installed from the wheel as ``torchserve-nlp-archive-sequence-classifier``.
"""

from torchserve_nlp.cli import archive_sequence_classifier as command
from torchserve_nlp.cli.archive_sequence_classifier import (
    NAME,
    PRETRAINED,
    TASK,
    TORCHSCRIPT_NAME,
    archive,
    archive_torchscript,
)

__all__ = [
    "NAME",
    "PRETRAINED",
    "TASK",
    "TORCHSCRIPT_NAME",
    "archive",
    "archive_torchscript",
    "main",
]


def main() -> None:
    command.main()


if __name__ == "__main__":
    main()
