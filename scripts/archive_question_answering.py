"""Package the fine-tuned QA model as ``<export-path>/BERTQuestionAnswering.mar``.

    python scripts/archive_question_answering.py build/question_answering --export-path model_store

A thin wrapper around ``torchserve_nlp.cli.archive_question_answering``,
installed from the wheel as ``torchserve-nlp-archive-question-answering``.
"""

from torchserve_nlp.cli import archive_question_answering as command
from torchserve_nlp.cli.archive_question_answering import (
    NAME,
    TASK,
    TORCHSCRIPT_NAME,
    archive,
    archive_torchscript,
)

__all__ = ["NAME", "TASK", "TORCHSCRIPT_NAME", "archive", "archive_torchscript", "main"]


def main() -> None:
    command.main()


if __name__ == "__main__":
    main()
