"""Write a Transformer, as a setup_config.json describes it, into a directory the Transformer
handlers serve: ``save_pretrained`` output (safetensors; also for save_mode bf16), a traced
``traced_model.pt`` or an ONNX graph (``model.onnx`` fused fp32, ``model_int8.onnx``), with
config.json, the tokenizer files and setup_config.json beside it.

The offline successor of TorchServe's HuggingFace example ``Download_Transformer_models.py``;
``scripts/download_transformer_models.py`` is its command line. A base encoder gets a freshly
initialised task head (seeded), which must be fine-tuned before its answers mean anything.
"""

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoTokenizer,
)

from nlp_runtime.hf.config import parse_handler_config
from torchserve_nlp.archive.archiver import HANDLERS
from torchserve_nlp.archive.model_source import CONFIG_FILE, weights_file
from torchserve_nlp.archive.onnx_export import export_graph
from torchserve_nlp.archive.tracing import trace_pretrained
from torchserve_nlp.archive.transformer_archives import TASKS, TransformerTask
from torchserve_nlp.file_names import SETUP_CONFIG, TRACED_FILE

logger = logging.getLogger(__name__)

PRETRAINED = "pretrained"
TORCHSCRIPT = "torchscript"
ONNX_MODES = ("onnx", "onnx_int8")
DEFAULT_EXPORT_PATH = Path("model_store")  # in the current directory


@dataclass(frozen=True)
class DownloadOptions:
    """What of a setup_config.json decides the download (the rest is for the handler)."""

    model_name: str
    mode: str
    save_mode: str
    do_lower_case: bool
    num_labels: int | None

    @property
    def task(self) -> TransformerTask:
        return TASKS[self.mode]


@dataclass(frozen=True)
class Export:
    """Files written into ``out``: the archive's serialized file and the other model files."""

    out: Path
    serialized_file: Path
    model_files: tuple[Path, ...]
    setup_config: Path

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.serialized_file, *self.model_files, self.setup_config)


def read_setup_config(path: Path) -> DownloadOptions:
    """Parse ``path`` with the handlers' own parser; ValueError naming a bad key or the file."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    try:
        config = parse_handler_config(raw)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    return DownloadOptions(
        model_name=config.model_name,
        mode=config.mode.value,
        save_mode=config.save_mode.value,
        do_lower_case=config.do_lower_case,
        num_labels=config.num_labels,
    )


def load_tokenizer(source: Path, options: DownloadOptions) -> Any:
    logger.info("loading the tokenizer from %s (do_lower_case=%s)", source, options.do_lower_case)
    return AutoTokenizer.from_pretrained(
        source, do_lower_case=options.do_lower_case, local_files_only=True
    )


def load_model(source: Path, options: DownloadOptions, seed: int) -> torch.nn.Module:
    """The task's model from ``source`` (safetensors, local files only); a head missing from
    the checkpoint is initialised from ``seed`` and reported as untrained."""
    task = options.task
    labels = {} if options.num_labels is None else {"num_labels": options.num_labels}
    logger.info("loading %s from %s", task.auto_class.__name__, source)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, info = task.auto_class.from_pretrained(
            source, use_safetensors=True, local_files_only=True, output_loading_info=True,
            ignore_mismatched_sizes=True, **labels,
        )
    if info["mismatched_keys"]:
        raise ValueError(mismatch_message(options, source, info["mismatched_keys"]))
    if info["missing_keys"]:
        logger.warning(untrained_head_message(options, source, info["missing_keys"]))
    return model.eval()


def mismatch_message(options: DownloadOptions, source: Path, mismatched: Any) -> str:
    key, checkpoint_shape, _ = sorted(mismatched, key=lambda item: item[0])[0]
    return (
        f"'num_labels' is {options.num_labels}, but {source} holds a trained head for "
        f"{checkpoint_shape[0]} labels ({key}: {list(checkpoint_shape)}); drop 'num_labels' "
        "or fine-tune a base model"
    )


def untrained_head_message(options: DownloadOptions, source: Path, missing: Any) -> str:
    return (
        f"{source} has no {options.mode} head ({', '.join(sorted(missing))}): it was freshly "
        "initialised and is UNTRAINED, so its predictions are meaningless; fine-tune it before "
        f"serving (see {options.task.train_script})"
    )


def save_pretrained(
    model: torch.nn.Module, tokenizer: Any, directory: Path, options: DownloadOptions
) -> list[str]:
    """save_pretrained of both into ``directory``; the names of the tokenizer's files."""
    model.save_pretrained(directory)
    if options.task.labelled:
        add_labels(directory / CONFIG_FILE, model.config.id2label)
    saved = tokenizer.save_pretrained(directory)
    return sorted({Path(p).name for p in saved if (directory / Path(p).name).is_file()})


def add_labels(config_file: Path, id2label: dict[int, str]) -> None:
    """Write ``id2label`` (and label2id) into config.json if save_pretrained left it out, as
    transformers does for the default two labels: the handlers name labels from it."""
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if "id2label" in config:
        return
    config["id2label"] = {str(i): label for i, label in sorted(id2label.items())}
    config["label2id"] = {label: i for i, label in sorted(id2label.items())}
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    logger.info("labels %s written into %s", list(config["label2id"]), CONFIG_FILE)


def trace_to(staging: Path, tokenizer: Any, options: DownloadOptions) -> str:
    """Trace the save_pretrained output in ``staging`` into ``staging/traced_model.pt``."""
    logger.info("tracing %s outputs %s", options.mode, options.task.outputs)
    traced = trace_pretrained(staging, options.task.auto_class, options.task.outputs, tokenizer)
    torch.jit.save(traced, str(staging / TRACED_FILE))
    return TRACED_FILE


def onnx_to(staging: Path, tokenizer: Any, options: DownloadOptions) -> str:
    """Export the save_pretrained output in ``staging`` to its ONNX graph there (fused fp32,
    checked against eager; or int8). Not gated: the archive scripts score derived archives
    on the held-out set of the model they were trained with."""
    logger.info("exporting %s to ONNX (%s)", options.mode, options.save_mode)
    with tempfile.TemporaryDirectory(prefix="onnx-") as tmp:
        graph = export_graph(
            options.save_mode, staging, options.task.auto_class, options.task.outputs,
            tokenizer, Path(tmp), per_token=options.mode != "sequence_classification",
        )
        os.replace(graph, staging / graph.name)
    return graph.name


def export_model(
    options: DownloadOptions, source: Path, out: Path, setup_config: Path, seed: int = 0
) -> Export:
    """Load from ``source``, write ``options.save_mode``'s files and ``setup_config`` (as
    setup_config.json) into ``out``; files of the same names there are replaced."""
    tokenizer = load_tokenizer(source, options)
    model = load_model(source, options, seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # Staged inside ``out``, so each file replaces its namesake atomically (even the weights
    # the model was just loaded from, when ``out`` is ``source``).
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=out) as tmp:
        staging = Path(tmp)
        tokenizer_files = save_pretrained(model, tokenizer, staging, options)
        if options.save_mode == TORCHSCRIPT:
            serialized = trace_to(staging, tokenizer, options)
            others = [CONFIG_FILE, *tokenizer_files]
        elif options.save_mode in ONNX_MODES:
            serialized = onnx_to(staging, tokenizer, options)
            others = [CONFIG_FILE, *tokenizer_files]
        else:  # pretrained, and bf16 (the same safetensors, run under bf16 autocast)
            weights = weights_file(staging)
            if weights is None:
                raise RuntimeError(f"save_pretrained wrote no safetensors weights in {staging}")
            serialized = weights.name
            others = sorted(p.name for p in staging.iterdir() if p.name != serialized)
        for name in [serialized, *others]:
            os.replace(staging / name, out / name)
    return Export(
        out, out / serialized, tuple(out / name for name in others),
        copy_setup_config(Path(setup_config), out),
    )


def copy_setup_config(setup_config: Path, out: Path) -> Path:
    """The configuration, archived under the name the handlers read."""
    target = out / SETUP_CONFIG
    if not (target.exists() and target.samefile(setup_config)):
        shutil.copyfile(setup_config, target)
    return target


def display_path(path: Path, cwd: Path) -> str:
    """``path`` relative to ``cwd`` when inside it, else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path(cwd).resolve()))
    except ValueError:
        return str(path)


def archiver_command(
    options: DownloadOptions, export: Export, cwd: Path, export_path: Path = DEFAULT_EXPORT_PATH
) -> list[str]:
    """The torch-model-archiver command line that archives ``export`` for its handler."""
    task = options.task
    suffix = {TORCHSCRIPT: "_Torchscript", PRETRAINED: ""}.get(
        options.save_mode, f"_{options.save_mode}"
    )
    extras = [HANDLERS, *export.model_files, export.setup_config]
    return [
        "torch-model-archiver",
        "--model-name", f"{task.archive_name}{suffix}", "--version", "1.0",
        "--serialized-file", display_path(export.serialized_file, cwd),
        "--handler", display_path(HANDLERS / task.handler, cwd),
        "--extra-files", ",".join(display_path(path, cwd) for path in extras),
        "--export-path", display_path(export_path, cwd),
    ]
