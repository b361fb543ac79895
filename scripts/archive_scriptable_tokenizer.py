"""Package the scripted tokenizer+classifier as ``<export-path>/scriptable_tokenizer.mar``.

    python scripts/archive_scriptable_tokenizer.py build/sentiment --export-path model_store

A thin wrapper around ``torchserve_nlp.cli.archive_scriptable_tokenizer``,
installed from the wheel as ``torchserve-nlp-archive-scriptable-tokenizer``.
"""

from torchserve_nlp.cli import archive_scriptable_tokenizer as command
from torchserve_nlp.cli.archive_scriptable_tokenizer import (
    ARTIFACTS,
    archive,
)

__all__ = ["ARTIFACTS", "archive", "main"]


def main() -> None:
    command.main()


if __name__ == "__main__":
    main()
