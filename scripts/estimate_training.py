"""Say how long training the given default models will take on this machine.

    python scripts/estimate_training.py sentiment ner qa
"""

import argparse
import logging
import os

import torch

from torchserve_nlp.training.estimate import WORK, measure_pace, parallel_seconds, total_seconds
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
    parser.add_argument("--jobs", type=int, default=1,
                        help="trainings run at a time, each on this process's threads "
                        "(default: %(default)s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.models:
        return
    works = [WORK[name]() for name in args.models]
    precision = detect_precision(args.precision)
    if args.jobs > 1 and "OMP_NUM_THREADS" not in os.environ:  # make sets it for each job
        torch.set_num_threads(max(1, torch.get_num_threads() // args.jobs))
    paces = {frozen: measure_pace(precision, frozen=frozen)
             for frozen in sorted({w.frozen for w in works})}
    seconds = [total_seconds([w], paces[w.frozen]) for w in works]
    logging.info(
        "training %d model(s): %s; %s on this machine (%s tokens/s measured%s)",
        len(works), ", ".join(f"{w.name} ({w.train_tokens / 1000:.0f}k tokens)" for w in works),
        about(parallel_seconds(seconds, args.jobs)),
        " and ".join(f"{pace.tokens_per_second:.0f}" for pace in paces.values()),
        f", {args.jobs} at a time" if args.jobs > 1 else "",
    )


if __name__ == "__main__":
    main()
