"""Check that another handler runtime answers exactly as an archive's own.

    python scripts/compare_runtimes.py model_store/BERTSeqClassification.mar \
        --other-handlers /tmp/base/handlers --bodies held_out.txt [--explain]

Serves the archive in-process as built and again with its runtime replaced by
--other-handlers (for example `git worktree add /tmp/base <commit>` then /tmp/base/handlers),
sends every line of --bodies through both in the archive's batches, and compares the answers
(floats within --tolerance). Exit status 1 on any difference.
"""

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from torchserve_nlp.bench.runtime_compare import answers, compare, read_requests, with_runtime


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive", type=Path, help="the .mar whose answers are the reference")
    parser.add_argument("--other-handlers", type=Path, required=True,
                        help="a handlers/ folder (entry files and nlp_runtime) to compare")
    parser.add_argument("--bodies", type=Path, required=True,
                        help="one request body per line: text, or JSON with --json-lines")
    parser.add_argument("--json-lines", action="store_true",
                        help="every line of --bodies is a JSON body")
    parser.add_argument("--explain", action="store_true",
                        help="send every body as to /explanations")
    parser.add_argument("--tolerance", type=float, default=1e-6,
                        help="largest accepted difference between two numbers (default 1e-6)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    requests = read_requests(args.bodies, args.json_lines, args.explain)
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        ours = answers(args.archive, requests, work_dir / "ours")
        swapped = with_runtime(args.archive, args.other_handlers, work_dir / "swapped")
        theirs = answers(swapped, requests, work_dir / "theirs")
    result = compare(ours, theirs, args.tolerance)
    print(f"{result.answers} answers compared; largest difference {result.max_difference:.3g}; "
          f"{len(result.mismatches)} mismatches")
    for mismatch in result.mismatches[:20]:
        print(f"  {mismatch}")
    sys.exit(1 if result.mismatches else 0)


if __name__ == "__main__":
    main()
