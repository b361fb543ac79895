"""Write the Transformer a setup_config.json describes into a directory ready to archive.

    python scripts/download_transformer_models.py \
        artifacts/sequence_classification/setup_config.json [--out DIR] [--seed N]

Installed from the wheel, the command is ``torchserve-nlp-download-transformer-models``
(same arguments).

The offline successor of TorchServe's HuggingFace example ``Download_Transformer_models.py``:
nothing is downloaded. ``model_name`` is a local save_pretrained directory, the packaged
all-MiniLM-L6-v2 ("sentence-transformers/all-MiniLM-L6-v2" or "all-MiniLM-L6-v2") or a model
already in the local Hugging Face cache. ``save_mode`` pretrained (and bf16, the same
weights run under bf16 autocast) writes safetensors, torchscript writes traced_model.pt, onnx
the fused fp32 graph model.onnx and onnx_int8 the int8 graph model_int8.onnx; all with
config.json, the tokenizer files and setup_config.json. The torch-model-archiver command to
run next is logged. (The archive scripts' --save-mode also gates these on the held-out set.)
"""

import argparse
import logging
import shlex
from collections.abc import Sequence
from pathlib import Path

from torchserve_nlp.archive.model_source import resolve_model_source
from torchserve_nlp.archive.transformer_export import (
    DEFAULT_EXPORT_PATH,
    archiver_command,
    display_path,
    export_model,
    read_setup_config,
)

logger = logging.getLogger("download_transformer_models")


DESCRIPTION = """\
Write the Transformer a setup_config.json describes (its model_name, mode and
save_mode) into --out, ready for torch-model-archiver: the weights (safetensors
for pretrained and bf16, traced_model.pt for torchscript, model.onnx for onnx,
model_int8.onnx for onnx_int8), config.json, tokenizer files and
setup_config.json. Nothing is downloaded: model_name must be a local
save_pretrained directory, the packaged all-MiniLM-L6-v2 or a model already in
the Hugging Face cache. The archiver command to run next is logged."""
EPILOG = """\
example:
  python scripts/download_transformer_models.py \\
      artifacts/sequence_classification/setup_config.json --out Transformer_model"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("setup_config", type=Path, help="setup_config.json of the model")
    parser.add_argument(
        "--out", type=Path, default=Path("Transformer_model"),
        help="directory to write the model files into (default: Transformer_model/)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of a freshly initialised task head"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        options = read_setup_config(args.setup_config)
        source = resolve_model_source(options.model_name)
        logger.info("model_name %r: %s %s", options.model_name, source.kind.value, source.path)
        export = export_model(options, source.path, args.out, args.setup_config, args.seed)
    except (ValueError, OSError) as error:
        logger.error("%s", error)
        return 1
    cwd = Path.cwd()
    for path in export.files:
        logger.info("wrote %s", display_path(path, cwd))
    logger.info(
        "archive it with (the export directory must exist):\n  mkdir -p %s\n  %s",
        shlex.quote(display_path(DEFAULT_EXPORT_PATH, cwd)),
        shlex.join(archiver_command(options, export, cwd)),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
