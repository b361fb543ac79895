"""Package the fine-tuned NER model as ``<export-path>/BERTTokenClassification.mar``.

    python scripts/archive_token_classifier.py build/token_classification --export-path model_store
    python scripts/archive_token_classifier.py build/token_classification --torchscript

The archive holds model.safetensors (serialized file), config.json, the tokenizer files,
setup_config.json, metrics.json and the handler with its support modules, all flat.
``--torchscript`` also writes ``BERTTokenClassification_Torchscript.mar``: the model traced to
``(input_ids, attention_mask, token_type_ids)`` → logits (model_traced.pt) with the same
files, its setup_config.json saying ``"save_mode": "torchscript"``.
"""

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

from torchserve_nlp.archiver import REPO_ROOT, archive_model
from torchserve_nlp.tracing import trace_pretrained

NAME = "BERTTokenClassification"
TORCHSCRIPT_NAME = f"{NAME}_Torchscript"
HANDLER = "token_classification_handler.py"
ARTIFACTS = REPO_ROOT / "artifacts" / "token_classification"
HANDLERS = REPO_ROOT / "handlers"
SUPPORT_MODULES = (
    "transformer_config.py", "transformer_model.py", "token_aggregation.py", "entity_request.py"
)
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "metrics.json")
OPTIONAL_TOKENIZER_FILES = ("special_tokens_map.json", "vocab.txt")
TRACED_FILE = "model_traced.pt"


def model_files(build_dir: Path) -> list[Path]:
    """Support modules, config.json, tokenizer files and metrics.json: all but the weights."""
    optional = [build_dir / f for f in OPTIONAL_TOKENIZER_FILES if (build_dir / f).exists()]
    return [
        *(HANDLERS / f for f in SUPPORT_MODULES), *(build_dir / f for f in MODEL_FILES), *optional
    ]


def archive(build_dir: Path, export_path: Path, name: str = NAME) -> Path:
    build_dir = Path(build_dir)
    return archive_model(
        name,
        serialized_file=build_dir / "model.safetensors",
        handler=HANDLER,
        export_path=export_path,
        extra_files=[*model_files(build_dir), ARTIFACTS / "setup_config.json"],
        config_file=ARTIFACTS / "model-config.yaml",
        requirements_file=ARTIFACTS / "requirements.txt",
    )


def trace(build_dir: Path, out_file: Path) -> Path:
    """Trace the model (checked against eager at other shapes) into ``out_file``."""
    tokenizer = AutoTokenizer.from_pretrained(build_dir, local_files_only=True)
    traced = trace_pretrained(build_dir, AutoModelForTokenClassification, ("logits",), tokenizer)
    torch.jit.save(traced, str(out_file))
    return out_file


def archive_torchscript(build_dir: Path, export_path: Path) -> Path:
    build_dir = Path(build_dir)
    with tempfile.TemporaryDirectory(prefix="ner-trace-") as tmp:
        work = Path(tmp)
        traced = trace(build_dir, work / TRACED_FILE)
        # Archived under the name the handler reads.
        setup = shutil.copy(ARTIFACTS / "setup_config_torchscript.json", work / "setup_config.json")
        return archive_model(
            TORCHSCRIPT_NAME,
            serialized_file=traced,
            handler=HANDLER,
            export_path=export_path,
            extra_files=[*model_files(build_dir), Path(setup)],
            config_file=ARTIFACTS / "model-config.yaml",
            requirements_file=ARTIFACTS / "requirements.txt",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument(
        "build_dir", type=Path, help="output of scripts/train_token_classifier.py"
    )
    parser.add_argument("--export-path", type=Path, default=REPO_ROOT / "model_store")
    parser.add_argument("--torchscript", action="store_true", help="also the traced archive")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.info("wrote %s", archive(args.build_dir, args.export_path))
    if args.torchscript:
        logging.info("wrote %s", archive_torchscript(args.build_dir, args.export_path))


if __name__ == "__main__":
    main()
