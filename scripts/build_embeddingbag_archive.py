"""Train the EmbeddingBag example and package it as embeddingbag_text_classifier.mar.

    python scripts/build_embeddingbag_archive.py --export-path model_store [--quick] \
        [--work-dir build/embeddingbag]

A thin wrapper around ``torchserve_nlp.cli.build_embeddingbag_archive``,
installed from the wheel as ``torchserve-nlp-build-embeddingbag-archive``.
"""

from torchserve_nlp.cli import build_embeddingbag_archive as command
from torchserve_nlp.cli.build_embeddingbag_archive import (
    MODEL_NAME,
    build,
)

__all__ = ["MODEL_NAME", "build", "main"]


def main() -> None:
    command.main()


if __name__ == "__main__":
    main()
