"""Package a model class with predict_single and its safetensors weights as a .mar archive.

    python scripts/package_model.py --name news_classifier --model-file model.py \
        --weights weights.safetensors --init-args-file init_args.json \
        [--extra-files vocab.txt labels.json] [--export-path model_store]

Installed from the wheel, the command is ``torchserve-nlp-package-model``
(same arguments).
"""

import argparse
import json
import logging
from pathlib import Path

from torchserve_nlp.archive.packaging import BatchingConfig, load_model_from_files, package_model

DESCRIPTION = """\
Package a model class that has predict_single, with its safetensors weights, as
a TorchServe archive <export-path>/<name>.mar. The model is first loaded from
--model-file, --weights and the constructor arguments, so a mismatch fails here
rather than in the server."""
EPILOG = """\
example:
  python scripts/package_model.py --name news_classifier --model-file model.py \\
      --weights weights.safetensors --init-args-file init_args.json \\
      --extra-files vocab.txt labels.json --export-path model_store"""


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", required=True, help="model name, as in /predictions/<name>")
    parser.add_argument("--model-file", type=Path, required=True, help="file defining the class")
    parser.add_argument("--class-name", help="if the file has several such classes")
    parser.add_argument("--weights", type=Path, required=True, help="a .safetensors file")
    args_source = parser.add_mutually_exclusive_group()
    args_source.add_argument("--init-args", default="{}", help="constructor arguments as JSON")
    args_source.add_argument("--init-args-file", type=Path, help="constructor arguments JSON file")
    parser.add_argument(
        "--extra-files", type=Path, nargs="*", default=[], help="more files the archive ships, flat"
    )
    parser.add_argument(
        "--requirements-file", type=Path, help="pip requirements the worker installs"
    )
    parser.add_argument(
        "--export-path", type=Path, default=Path("model_store"),
        help="directory to write <name>.mar into (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=BatchingConfig.batch_size,
        help="requests TorchServe batches into one call (default: %(default)s)",
    )
    parser.add_argument(
        "--max-batch-delay",
        type=int,
        default=BatchingConfig.max_batch_delay_ms,
        help="milliseconds TorchServe waits to fill a batch (default: %(default)s)",
    )
    parser.add_argument(
        "--sample-file", type=Path, help="text the rebuilt model must answer like the loaded one"
    )
    parser.add_argument(
        "--version", default="1.0", help="model version in the archive (default: %(default)s)"
    )
    return parser.parse_args()


def read_init_args(args: argparse.Namespace) -> dict:
    source = "--init-args-file" if args.init_args_file else "--init-args"
    try:
        text = args.init_args_file.read_text() if args.init_args_file else args.init_args
        init_args = json.loads(text)
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"{source}: cannot read JSON constructor arguments: {error}") from None
    if not isinstance(init_args, dict):
        raise SystemExit(f"{source} must be a JSON object, got {type(init_args).__name__}")
    return init_args


def main() -> None:
    args = parse_arguments()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    init_args = read_init_args(args)
    model = load_model_from_files(args.model_file, args.weights, init_args, args.class_name)
    archive = package_model(
        args.name,
        model,
        args.model_file,
        args.export_path,
        init_args=init_args,
        extra_files=args.extra_files,
        requirements_file=args.requirements_file,
        batching=BatchingConfig(args.batch_size, args.max_batch_delay),
        sample_input=args.sample_file.read_text(encoding="utf-8") if args.sample_file else None,
        version=args.version,
    )
    logging.info("wrote %s", archive)


if __name__ == "__main__":
    main()
