"""Measure what padding less saves: every text to max_length, each batch to its longest, and
each batch cut into groups of similar length (what this project's handlers do).

    python scripts/bench_padding.py --archive model_store/BERTSeqClassification.mar \
        --texts artifacts/scriptable_tokenizer/bench_texts.txt --batch-size 8

Loads the archive in-process with TorchServe's own loader and, batch by batch, runs the
archive's tokenizer and forward three ways, alternating: padded to ``max_length`` (what
TorchServe's Huggingface_Transformers example did), to the longest text of the batch, and
grouped by length (nlp_runtime.hf.forward_plan with the archive's ``max_tokens_per_forward``
and ``forward_overhead_tokens``, or --overhead-tokens). Same texts, weights and process.
Reports per way texts/s, padded tokens per real token and forwards per batch, and the largest
output difference from the longest-padded outputs (padding must not change results). For
text-input archives (sequence and token classification).
"""

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from tqdm import tqdm

from torchserve_nlp.bench.padded_forward import (
    WAYS,
    load_archive_model,
    real_tokens,
    timed_forward,
)
from torchserve_nlp.serving.local_archive import LocalArchive

logger = logging.getLogger(__name__)


def bench(
    archive_path: Path, texts: list[str], batch_size: int, rounds: int,
    overhead: int | None = None,
) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-padding-") as work,
        LocalArchive.open(archive_path, work) as archive,
    ):
        model = load_archive_model(archive)
        overhead = model.config.forward_overhead_tokens if overhead is None else overhead
        batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
        for way in WAYS:  # warm-up
            timed_forward(model, batches[0], way, overhead)
        seconds, padded, forwards = (dict.fromkeys(WAYS, 0) for _ in range(3))
        real, worst = 0, 0.0
        for _ in tqdm(range(rounds), desc="rounds", disable=None):
            for batch in batches:
                outputs = {}
                for way in WAYS:
                    spent, outputs[way], tokens, calls = timed_forward(model, batch, way, overhead)
                    seconds[way] += spent
                    padded[way] += tokens
                    forwards[way] += calls
                real += real_tokens(model, batch)
                reference = outputs["longest"]
                for way in ("max_length", "grouped"):
                    other = outputs[way]
                    other = other[:, : reference.shape[1]] if other.dim() == 3 else other
                    worst = max(worst, float((other - reference).abs().max()))
    count = rounds * len(texts)
    return {
        "archive": str(archive_path),
        "batch_size": batch_size,
        "texts": count,
        "max_length": model.config.max_length,
        "overhead_tokens": overhead,
        **{f"texts_per_s_{way}": round(count / seconds[way], 1) for way in WAYS},
        **{f"padded_per_real_token_{way}": round(padded[way] / real, 3) for way in WAYS},
        **{f"forwards_per_batch_{way}": round(forwards[way] / (rounds * len(batches)), 2)
           for way in WAYS},
        "speedup_longest_over_max_length": round(seconds["max_length"] / seconds["longest"], 2),
        "speedup_grouped_over_longest": round(seconds["longest"] / seconds["grouped"], 2),
        "max_output_difference": worst,
    }


DESCRIPTION = """\
Measure what padding less saves: load a .mar in-process and run its tokenizer and
model on the same batches padded to max_length, to each batch's longest text, and
grouped by length as the handlers do; log texts/s, padded tokens per real token and
forwards per batch of each way, and the largest output difference (which must be ~0)."""
EPILOG = """\
example:
  python scripts/bench_padding.py --archive model_store/BERTSeqClassification.mar \\
      --texts artifacts/scriptable_tokenizer/bench_texts.txt --batch-size 8"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--archive", type=Path, required=True,
        help="a text-input .mar (sequence or token classification)",
    )
    parser.add_argument("--texts", type=Path, required=True, help="one text per line")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="texts per forward (default: %(default)s)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="passes over the texts (default: %(default)s)"
    )
    parser.add_argument(
        "--overhead-tokens", type=int,
        help="cost of one more forward in tokens, for the grouped way (default: the archive's "
             "forward_overhead_tokens)",
    )
    parser.add_argument("--json-out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    texts = [line for line in args.texts.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts or args.batch_size < 1 or args.rounds < 1:
        parser.error("need texts, --batch-size >= 1 and --rounds >= 1")
    figures = bench(args.archive, texts, args.batch_size, args.rounds, args.overhead_tokens)
    text = json.dumps(figures, indent=2)
    logger.info("padding benchmark:\n%s", text)
    if args.json_out:
        args.json_out.write_text(text + "\n")


if __name__ == "__main__":
    main()
