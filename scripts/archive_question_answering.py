"""Package the fine-tuned QA model as ``<export-path>/BERTQuestionAnswering.mar``.

    python scripts/archive_question_answering.py build/question_answering --export-path model_store
    python scripts/archive_question_answering.py build/question_answering --torchscript

The archive holds model.safetensors (serialized file), config.json, the tokenizer files,
setup_config.json, metrics.json and the handler with its support modules, all flat.
``--torchscript`` writes ``BERTQuestionAnswering_Torchscript.mar`` instead: the model traced to
``(input_ids, attention_mask, token_type_ids)`` → (start_logits, end_logits).
"""

import argparse
import json
import logging
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from torchserve_nlp.archiver import HANDLERS, REPO_ROOT, archive_model
from torchserve_nlp.tracing import trace_pretrained

NAME = "BERTQuestionAnswering"
ARTIFACTS = REPO_ROOT / "artifacts" / "question_answering"
HANDLER = "question_answering_handler.py"
SUPPORT_MODULES = (
    "transformer_config.py", "transformer_model.py", "qa_request.py", "qa_span_decoding.py"
)
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")
OPTIONAL_FILES = ("special_tokens_map.json", "vocab.txt", "metrics.json")
SETUP_CONFIG = ARTIFACTS / "setup_config.json"
logger = logging.getLogger(__name__)


def model_files(build_dir: Path) -> list[Path]:
    optional = [build_dir / f for f in OPTIONAL_FILES if (build_dir / f).exists()]
    return [*(HANDLERS / f for f in SUPPORT_MODULES), *(build_dir / f for f in MODEL_FILES),
            *optional]


def archive(
    build_dir: Path, export_path: Path, setup_config: Path = SETUP_CONFIG, name: str = NAME
) -> Path:
    build_dir = Path(build_dir)
    return archive_model(
        name,
        serialized_file=build_dir / "model.safetensors",
        handler=HANDLER,
        export_path=export_path,
        extra_files=[*model_files(build_dir), setup_config],
        config_file=ARTIFACTS / "model-config.yaml",
        requirements_file=ARTIFACTS / "requirements.txt",
    )


def archive_torchscript(
    build_dir: Path,
    export_path: Path,
    setup_config: Path = SETUP_CONFIG,
    name: str = f"{NAME}_Torchscript",
) -> Path:
    """Trace (checked against eager at other shapes) and archive with save_mode torchscript."""
    build_dir = Path(build_dir)
    tokenizer = AutoTokenizer.from_pretrained(build_dir, local_files_only=True)
    traced = trace_pretrained(
        build_dir, AutoModelForQuestionAnswering, ("start_logits", "end_logits"), tokenizer
    )
    with tempfile.TemporaryDirectory(prefix="qa-trace-") as tmp:
        work = Path(tmp)
        torch.jit.save(traced, str(work / "model_traced.pt"))
        setup = json.loads(Path(setup_config).read_text(encoding="utf-8"))
        (work / "setup_config.json").write_text(json.dumps({**setup, "save_mode": "torchscript"}))
        return archive_model(
            name,
            serialized_file=work / "model_traced.pt",
            handler=HANDLER,
            export_path=export_path,
            extra_files=[*model_files(build_dir), work / "setup_config.json"],
            config_file=ARTIFACTS / "model-config.yaml",
            requirements_file=ARTIFACTS / "requirements.txt",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument(
        "build_dir", type=Path, help="output of scripts/train_question_answering.py"
    )
    parser.add_argument("--export-path", type=Path, default=REPO_ROOT / "model_store")
    parser.add_argument("--torchscript", action="store_true", help="the traced archive instead")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build = archive_torchscript if args.torchscript else archive
    logger.info("wrote %s", build(args.build_dir, args.export_path))


if __name__ == "__main__":
    main()
