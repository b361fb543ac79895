"""Combine the tokenizer and the classifier into one TorchScript file.

    python scripts/script_tokenizer_and_model.py model.pt model_jit.pt

``model.pt`` is the state dict written by scripts/train_sentiment.py; config.json, vocab.txt
and tokenizer_settings.json are read from the same directory. The result's forward takes
``List[str]`` (or one ``str``) and returns logits. Before saving, the scripted module is
checked against the eager model fed by the HF tokenizer.
"""

import argparse
import logging
from pathlib import Path

import torch
from transformers import BertTokenizerFast

from torchserve_nlp.tokenizer.scripted_classifier import (
    build_scripted_classifier,
    load_eager_classifier,
)

CHECK_TEXTS = [
    "I love this!",
    "Self-driving cars are a terrible, dangerous idea and I will never ride in one.",
    "Café naïve ΣΊΣΥΦΟΣ 中文 😀",
    "ok",
]
TOLERANCE = 1e-5


def check_against_eager(scripted: torch.jit.ScriptModule, weights_file: Path) -> float:
    eager = load_eager_classifier(weights_file)
    hf = BertTokenizerFast(vocab=str(weights_file.parent / "vocab.txt"), do_lower_case=True)
    with torch.inference_mode():
        expected = eager(**hf(CHECK_TEXTS, truncation=True, padding=True,
                              max_length=128, return_tensors="pt")).logits
        got = scripted(CHECK_TEXTS)
    return float((expected - got).abs().max())


DESCRIPTION = """\
Combine the tokenizer and the sentiment classifier trained by
scripts/train_sentiment.py into one TorchScript file whose forward takes raw
texts and returns logits. The result is checked against the eager model before
it is saved; scripts/archive_scriptable_tokenizer.py packages it."""
EPILOG = """\
example:
  python scripts/script_tokenizer_and_model.py build/sentiment/model.pt \\
      build/sentiment/model_jit.pt"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "weights", type=Path,
        help="model.pt (state dict) written by scripts/train_sentiment.py; config.json, "
        "vocab.txt and tokenizer_settings.json are read from the same directory",
    )
    parser.add_argument("output", type=Path, help="TorchScript file to write, e.g. model_jit.pt")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    scripted = build_scripted_classifier(args.weights)
    difference = check_against_eager(scripted, args.weights)
    if difference > TOLERANCE:
        raise SystemExit(f"scripted logits differ from eager ones by {difference:.2e}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(scripted, str(args.output))
    logging.info("wrote %s (max |scripted - eager| = %.2e)", args.output, difference)


if __name__ == "__main__":
    main()
