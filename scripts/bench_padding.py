"""Measure what padding each batch to its longest text saves over padding to max_length.

    python scripts/bench_padding.py --archive model_store/BERTSeqClassification.mar \
        --texts artifacts/scriptable_tokenizer/bench_texts.txt --batch-size 8

Loads the archive in-process with TorchServe's own loader and, batch by batch, runs the
archive's tokenizer and forward both ways, alternating: padded to the longest text of the
batch (what this project's handlers do) and padded to ``max_length`` (what TorchServe's
Huggingface_Transformers example did). Same texts, weights and process. Reports texts/s of
each, their ratio, the mean padded width, and the largest output difference between the two
(padding must not change results). For text-input archives (sequence and token
classification).
"""

import argparse
import importlib
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from torchserve_nlp.serving.local_archive import LocalArchive

logger = logging.getLogger(__name__)
AUTO_CLASSES = {
    "sequence_classification": "AutoModelForSequenceClassification",
    "token_classification": "AutoModelForTokenClassification",
}


def load_archive_model(archive: LocalArchive) -> tuple[Any, Any, int]:
    """(tokenizer, forward, max_length) built by the archive's own nlp_runtime.hf.model."""
    config_module = importlib.import_module("nlp_runtime.hf.config")
    model_module = importlib.import_module("nlp_runtime.hf.model")
    model_dir = archive.info.model_dir
    config = config_module.load_handler_config(model_dir, archive.info.model_config)
    if config.mode.value not in AUTO_CLASSES:
        raise SystemExit(f"mode {config.mode.value!r} is not a text-input task; "
                         f"choose an archive of {sorted(AUTO_CLASSES)}")
    auto_class = getattr(importlib.import_module("transformers"), AUTO_CLASSES[config.mode.value])
    tokenizer = model_module.load_tokenizer(model_dir, config, need_offsets=False)
    serialized = archive.info.manifest["model"]["serializedFile"]
    loaded = model_module.load_model(model_dir, config, auto_class, ("logits",), serialized)
    return tokenizer, loaded.forward, config.max_length


def timed_forward(tokenizer, forward, texts: list[str], padding: str, max_length: int):
    start = time.perf_counter()
    encoded = tokenizer(texts, truncation=True, max_length=max_length, padding=padding,
                        return_tensors="pt")
    with torch.inference_mode():
        (output,) = forward(dict(encoded))
    return time.perf_counter() - start, output, encoded["input_ids"].shape[1]


def bench(archive_path: Path, texts: list[str], batch_size: int, rounds: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-padding-") as work,
        LocalArchive.open(archive_path, work) as archive,
    ):
        tokenizer, forward, max_length = load_archive_model(archive)
        batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
        for padding in ("longest", "max_length"):  # warm-up
            timed_forward(tokenizer, forward, batches[0], padding, max_length)
        seconds = {"longest": 0.0, "max_length": 0.0}
        widths: list[int] = []
        worst = 0.0
        for _ in tqdm(range(rounds), desc="rounds", disable=None):
            for batch in batches:
                short_s, short, width = timed_forward(
                    tokenizer, forward, batch, "longest", max_length
                )
                long_s, long, _ = timed_forward(tokenizer, forward, batch, "max_length", max_length)
                seconds["longest"] += short_s
                seconds["max_length"] += long_s
                widths.append(width)
                long = long[:, :width] if long.dim() == 3 else long
                worst = max(worst, float((short - long).abs().max()))
    count = rounds * len(texts)
    return {
        "archive": str(archive_path),
        "batch_size": batch_size,
        "texts": count,
        "max_length": max_length,
        "mean_longest_width": round(sum(widths) / len(widths), 1),
        "texts_per_s_longest": round(count / seconds["longest"], 1),
        "texts_per_s_max_length": round(count / seconds["max_length"], 1),
        "speedup_longest_over_max_length": round(seconds["max_length"] / seconds["longest"], 2),
        "max_output_difference": worst,
    }


DESCRIPTION = """\
Measure what padding each batch to its longest text saves over padding every
text to max_length: load a .mar in-process, run its tokenizer and model both
ways on the same batches, and log texts/s of each, their ratio, the mean padded
width and the largest output difference (which must be ~0)."""
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
    parser.add_argument("--json-out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    texts = [line for line in args.texts.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts or args.batch_size < 1 or args.rounds < 1:
        parser.error("need texts, --batch-size >= 1 and --rounds >= 1")
    figures = bench(args.archive, texts, args.batch_size, args.rounds)
    text = json.dumps(figures, indent=2)
    logger.info("padding benchmark:\n%s", text)
    if args.json_out:
        args.json_out.write_text(text + "\n")


if __name__ == "__main__":
    main()
