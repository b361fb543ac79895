"""How each task's Transformer archive is built, in ``pretrained`` and ``torchscript`` form
(the gated ``onnx``, ``onnx_int8`` and ``bf16`` forms are archive.derived_archives').

One ``TransformerTask`` per task names its handler entry file, its model class and output
tensors; ``archive`` and ``archive_torchscript`` package a ``save_pretrained`` directory with
the runtime (archiver). The archive scripts and scripts/download_transformer_models.py both
read ``TASKS``.
"""

import argparse
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

from torchserve_nlp.archive.archiver import archive_model
from torchserve_nlp.archive.tracing import trace_pretrained
from torchserve_nlp.file_names import (
    INDEX_TO_NAME,
    METRICS_FILE,
    MODEL_CONFIG_YAML,
    SETUP_CONFIG,
    TRACED_FILE,
)
from torchserve_nlp.resources import artifacts_dir

logger = logging.getLogger(__name__)
ARTIFACTS = artifacts_dir()
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")
OPTIONAL_FILES = ("special_tokens_map.json", "vocab.txt", INDEX_TO_NAME, METRICS_FILE)


@dataclass(frozen=True)
class TransformerTask:
    mode: str  # setup_config.json's "mode"
    archive_name: str
    handler: str  # entry file in handlers/
    auto_class: Any
    outputs: tuple[str, ...]  # output tensors a traced module returns, in order
    train_script: str
    labelled: bool = True  # the handler names outputs from config.json's id2label

    @property
    def torchscript_name(self) -> str:
        return f"{self.archive_name}_Torchscript"

    @property
    def artifacts(self) -> Path:
        return ARTIFACTS / self.mode


TASKS = {
    task.mode: task
    for task in (
        TransformerTask(
            "sequence_classification", "BERTSeqClassification",
            "sequence_classification_handler.py",
            AutoModelForSequenceClassification, ("logits",), "scripts/train_sentiment.py",
        ),
        TransformerTask(
            "question_answering", "BERTQuestionAnswering",
            "question_answering_handler.py",
            AutoModelForQuestionAnswering, ("start_logits", "end_logits"),
            "scripts/train_question_answering.py", labelled=False,
        ),
        TransformerTask(
            "token_classification", "BERTTokenClassification",
            "token_classification_handler.py",
            AutoModelForTokenClassification, ("logits",), "scripts/train_token_classifier.py",
        ),
    )
}


def model_files(pretrained: Path) -> list[Path]:
    """config.json and the tokenizer files, plus label map and metrics when present."""
    optional = [pretrained / f for f in OPTIONAL_FILES if (pretrained / f).exists()]
    return [*(pretrained / f for f in MODEL_FILES), *optional]


def archive(
    task: TransformerTask,
    pretrained: Path,
    export_path: Path,
    setup_config: Path | None = None,
    name: str | None = None,
) -> Path:
    """``<export_path>/<name>.mar`` serving ``pretrained``'s safetensors weights."""
    pretrained = Path(pretrained)
    return _archive(
        task, name or task.archive_name, pretrained / "model.safetensors", pretrained,
        export_path, setup_config or task.artifacts / SETUP_CONFIG,
    )


def archive_torchscript(
    task: TransformerTask,
    pretrained: Path,
    export_path: Path,
    setup_config: Path | None = None,
    name: str | None = None,
) -> Path:
    """Trace ``pretrained`` (checked against eager at other shapes) and archive the trace
    with the setup_config's ``save_mode`` set to torchscript."""
    pretrained = Path(pretrained)
    tokenizer = AutoTokenizer.from_pretrained(pretrained, local_files_only=True)
    traced = trace_pretrained(pretrained, task.auto_class, task.outputs, tokenizer)
    setup = json.loads(Path(setup_config or task.artifacts / SETUP_CONFIG).read_text("utf-8"))
    with tempfile.TemporaryDirectory(prefix=f"{task.mode}-trace-") as tmp:
        work = Path(tmp)
        torch.jit.save(traced, str(work / TRACED_FILE))
        (work / SETUP_CONFIG).write_text(json.dumps({**setup, "save_mode": "torchscript"}))
        return _archive(
            task, name or task.torchscript_name, work / TRACED_FILE, pretrained, export_path,
            work / SETUP_CONFIG,
        )


def _archive(
    task: TransformerTask, name: str, serialized: Path, pretrained: Path, export_path: Path,
    setup_config: Path,
) -> Path:
    if Path(setup_config).name != SETUP_CONFIG:
        raise ValueError(f"the handler reads {SETUP_CONFIG}; got {setup_config}")
    return archive_model(
        name,
        serialized_file=serialized,
        handler=task.handler,
        export_path=export_path,
        extra_files=[*model_files(pretrained), Path(setup_config)],
        config_file=task.artifacts / MODEL_CONFIG_YAML,
        requirements_file=task.artifacts / "requirements.txt",
    )


def archive_main(
    task: TransformerTask, description: str, build_help: str, subdir: str = ""
) -> None:
    """Command line ``<build_dir> [--export-path DIR] [--torchscript]``; the model is
    ``<build_dir>/<subdir>``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("build_dir", type=Path, help=build_help)
    parser.add_argument(
        "--export-path", type=Path, default=Path("model_store"),
        help="directory to write the .mar into (default: model_store/ in the current directory)",
    )
    parser.add_argument(
        "--torchscript", action="store_true",
        help=f"also write the traced archive {task.torchscript_name}.mar",
    )
    from torchserve_nlp.archive import derived_archives as derived  # it imports this module

    derived.add_arguments(parser, task)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    pretrained = args.build_dir / subdir
    logger.info("wrote %s", archive(task, pretrained, args.export_path))
    if args.torchscript:
        logger.info("wrote %s", archive_torchscript(task, pretrained, args.export_path))
    derived.build_from_arguments(task, pretrained, args)
