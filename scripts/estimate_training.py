"""Say how long training the given default models will take on this machine.

    python scripts/estimate_training.py sentiment ner qa
"""

import argparse
import logging

from torchserve_nlp.training.estimate import WORK, measure_pace, total_seconds
from torchserve_nlp.training.pace import about
from torchserve_nlp.training.precision import PRECISION_CHOICES, detect_precision

DESCRIPTION = """\
Count the tokens each named training run will compute (its data, length-bucketed
batches and epochs), measure this machine's training pace on a few steps of the
encoder, and log the estimate for all of them. make serve runs it before the first
training."""
EPILOG = """\
example:
  python scripts/estimate_training.py sentiment ner qa"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="*", choices=sorted(WORK),
                        help="the runs to estimate (none: nothing to say)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                        help="training precision (default: %(default)s, as the trainers)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.models:
        return
    works = [WORK[name]() for name in args.models]
    pace = measure_pace(detect_precision(args.precision))
    logging.info(
        "training %d model(s): %s; %s on this machine (%.0f tokens/s measured)",
        len(works), ", ".join(f"{w.name} ({w.train_tokens / 1000:.0f}k tokens)" for w in works),
        about(total_seconds(works, pace)), pace.tokens_per_second,
    )


if __name__ == "__main__":
    main()
