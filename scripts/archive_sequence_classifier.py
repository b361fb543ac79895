"""Package the fine-tuned sentiment model as ``<export-path>/BERTSeqClassification.mar``.

    python scripts/archive_sequence_classifier.py build/sentiment --export-path model_store
    python scripts/archive_sequence_classifier.py build/sentiment --torchscript

``--torchscript`` also writes ``BERTSeqClassification_Torchscript.mar``: the model traced
to ``(input_ids, attention_mask, token_type_ids)`` → logits (model_traced.pt) with the
tokenizer files and config.json. Both archive ``<build_dir>/pretrained`` (save_pretrained output).
"""

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from torchserve_nlp.archiver import REPO_ROOT, archive_model
from torchserve_nlp.tracing import trace_pretrained

NAME = "BERTSeqClassification"
TORCHSCRIPT_NAME = f"{NAME}_Torchscript"
HANDLER = "sequence_classification_handler.py"
ARTIFACTS = REPO_ROOT / "artifacts" / "sequence_classification"
HANDLER_MODULES = (
    "transformer_config.py", "transformer_model.py", "classification_postprocess.py"
)
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")
OPTIONAL_FILES = ("special_tokens_map.json", "vocab.txt", "index_to_name.json")


def model_files(pretrained: Path) -> list[Path]:
    optional = [pretrained / f for f in OPTIONAL_FILES if (pretrained / f).exists()]
    return [*(REPO_ROOT / "handlers" / f for f in HANDLER_MODULES),
            *(pretrained / f for f in MODEL_FILES), *optional]


def archive(build_dir: Path, export_path: Path) -> Path:
    pretrained = Path(build_dir) / "pretrained"
    return archive_model(
        NAME,
        serialized_file=pretrained / "model.safetensors",
        handler=HANDLER,
        export_path=export_path,
        extra_files=[*model_files(pretrained), ARTIFACTS / "setup_config.json"],
        config_file=ARTIFACTS / "model-config.yaml",
        requirements_file=ARTIFACTS / "requirements.txt",
    )


def trace(pretrained: Path, out_file: Path) -> Path:
    """Trace the model (checked against eager at other shapes) into ``out_file``."""
    tokenizer = AutoTokenizer.from_pretrained(pretrained, local_files_only=True)
    traced = trace_pretrained(
        pretrained, AutoModelForSequenceClassification, ("logits",), tokenizer
    )
    torch.jit.save(traced, str(out_file))
    return out_file


def archive_torchscript(build_dir: Path, export_path: Path) -> Path:
    pretrained = Path(build_dir) / "pretrained"
    with tempfile.TemporaryDirectory(prefix="seq-trace-") as tmp:
        work = Path(tmp)
        traced = trace(pretrained, work / "model_traced.pt")
        # Archived under the name the handler reads.
        setup = shutil.copy(ARTIFACTS / "setup_config_torchscript.json", work / "setup_config.json")
        return archive_model(
            TORCHSCRIPT_NAME,
            serialized_file=traced,
            handler=HANDLER,
            export_path=export_path,
            extra_files=[*model_files(pretrained), Path(setup)],
            config_file=ARTIFACTS / "model-config.yaml",
            requirements_file=ARTIFACTS / "requirements.txt",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("build_dir", type=Path, help="output of scripts/train_sentiment.py")
    parser.add_argument("--export-path", type=Path, default=REPO_ROOT / "model_store")
    parser.add_argument("--torchscript", action="store_true", help="also the traced archive")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.info("wrote %s", archive(args.build_dir, args.export_path))
    if args.torchscript:
        logging.info("wrote %s", archive_torchscript(args.build_dir, args.export_path))


if __name__ == "__main__":
    main()
