"""Package the fine-tuned NER model as ``<export-path>/BERTTokenClassification.mar``.

    python scripts/archive_token_classifier.py build/token_classification --export-path model_store

A thin wrapper around ``torchserve_nlp.cli.archive_token_classifier``,
installed from the wheel as ``torchserve-nlp-archive-token-classifier``.
"""

from torchserve_nlp.cli import archive_token_classifier as command
from torchserve_nlp.cli.archive_token_classifier import (
    NAME,
    TASK,
    TORCHSCRIPT_NAME,
    TRACED_FILE,
    archive,
    archive_torchscript,
)

__all__ = [
    "NAME",
    "TASK",
    "TORCHSCRIPT_NAME",
    "TRACED_FILE",
    "archive",
    "archive_torchscript",
    "main",
]


def main() -> None:
    command.main()


if __name__ == "__main__":
    main()
