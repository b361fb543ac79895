"""Archives of a trained Transformer in a faster CPU runtime, behind an accuracy gate.

``archive_derived`` writes ``<archive_name>_<save_mode>.mar`` for save_mode ``onnx`` (fp32,
fused), ``onnx_int8`` (dynamic int8, per-channel) or ``bf16`` (the same safetensors, run under
bf16 autocast). Before the archive reaches ``export_path`` it is scored on the task's held-out
set through its own handler, as is the fp32 pretrained archive of the same model
(metrics.archive_eval); the gate (archive.accuracy_gates) compares the two, and the archive's
metrics.json carries the training metrics plus both scores under ``"runtime"``. A failing gate
raises GateFailure and leaves nothing in ``export_path``, unless ``accept_loss``. An
``onnx_int8`` build that fails with every matrix product in int8 is tried again with the
next ``Int8Recipe`` (some products kept in fp32), as accuracy-driven quantization tools do;
metrics.json names the recipe that passed.
"""

import argparse
import json
import logging
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer

from torchserve_nlp.archive import accuracy_gates
from torchserve_nlp.archive.archiver import archive_model
from torchserve_nlp.archive.onnx_export import Int8Recipe, export_graph
from torchserve_nlp.archive.transformer_archives import TransformerTask, archive, model_files
from torchserve_nlp.data.held_out import HeldOut, NoHeldOutSet, held_out_set
from torchserve_nlp.file_names import METRICS_FILE, MODEL_CONFIG_YAML, SETUP_CONFIG
from torchserve_nlp.metrics.archive_eval import Score, evaluate_archive

logger = logging.getLogger(__name__)

DERIVED_MODES = ("onnx", "onnx_int8", "bf16")
WEIGHTS = "model.safetensors"
RUNTIME_KEY = "runtime"  # metrics.json's section for the derived archive's gate


def derived_name(task: TransformerTask, save_mode: str) -> str:
    return f"{task.archive_name}_{save_mode}"


@dataclass(frozen=True)
class GateOptions:
    accept_loss: bool = False  # build even if the gate fails (or cannot run)
    held_out_limit: int | None = None  # score only the first N held-out examples


def archive_derived(
    task: TransformerTask,
    pretrained: Path,
    export_path: Path,
    save_mode: str,
    setup_config: Path | None = None,
    name: str | None = None,
    gate: GateOptions = GateOptions(),  # noqa: B008 - frozen
) -> Path:
    """Build, gate and write ``<export_path>/<name>.mar`` (module docstring)."""
    if save_mode not in DERIVED_MODES:
        raise ValueError(f"save_mode must be one of {list(DERIVED_MODES)}, got {save_mode!r}")
    pretrained, name = Path(pretrained), name or derived_name(task, save_mode)
    setup_path = Path(setup_config or task.artifacts / SETUP_CONFIG)
    held_out = find_held_out(task, pretrained, gate)
    # onnx_int8 tries its recipes in turn until one passes (with the flag, the first is kept).
    recipes = list(Int8Recipe) if save_mode == "onnx_int8" and not gate.accept_loss else [
        Int8Recipe.ALL]
    for attempt, recipe in enumerate(recipes, 1):
        try:
            return build_gated(task, pretrained, export_path, save_mode, setup_path, name,
                               held_out, gate, recipe)
        except accuracy_gates.GateFailure as failure:
            if attempt == len(recipes):
                raise
            logger.warning("%s; trying int8 recipe %s", failure, recipes[attempt].value)
    raise AssertionError("unreachable: the last recipe returns or raises")


def build_gated(
    task: TransformerTask, pretrained: Path, export_path: Path, save_mode: str,
    setup_path: Path, name: str, held_out: HeldOut | None, gate: GateOptions,
    recipe: Int8Recipe,
) -> Path:
    """One build of the derived archive, scored and gated (GateFailure), then written."""
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        work = Path(tmp)
        if save_mode == "bf16":
            serialized = pretrained / WEIGHTS
        else:
            tokenizer = AutoTokenizer.from_pretrained(pretrained, local_files_only=True)
            per_token = task.mode != "sequence_classification"
            serialized = export_graph(
                save_mode, pretrained, task.auto_class, task.outputs, tokenizer, work, per_token,
                recipe,
            )
        setup = json.loads(setup_path.read_text(encoding="utf-8"))
        (work / SETUP_CONFIG).write_text(json.dumps({**setup, "save_mode": save_mode}, indent=2))
        built = archive_model(
            name, serialized_file=serialized, handler=task.handler, export_path=work / "store",
            extra_files=[
                *(f for f in model_files(pretrained) if f.name != METRICS_FILE),
                work / SETUP_CONFIG,
            ],
            config_file=task.artifacts / MODEL_CONFIG_YAML,
            requirements_file=task.artifacts / "requirements.txt",
        )
        record = run_gate(task, pretrained, setup_path, name, save_mode, built, held_out, gate)
        if save_mode == "onnx_int8":
            record["int8_recipe"] = recipe.value
        add_metrics(built, pretrained / METRICS_FILE, record)
        Path(export_path).mkdir(parents=True, exist_ok=True)
        target = Path(export_path) / f"{name}.mar"
        if _same_device(built, target):
            os.replace(built, target)
        else:
            _copy(built, target)
    return target


def find_held_out(task: TransformerTask, pretrained: Path, gate: GateOptions) -> HeldOut | None:
    try:
        return held_out_set(task.mode, pretrained).first(gate.held_out_limit)
    except NoHeldOutSet as error:
        if not gate.accept_loss:
            raise accuracy_gates.GateFailure(
                f"cannot gate {task.mode} archives of {pretrained}: {error}. Pass "
                f"{accuracy_gates.ACCEPT_FLAG} to build without the accuracy gate"
            ) from error
        logger.warning("building without the accuracy gate: %s", error)
        return None


def run_gate(
    task: TransformerTask, pretrained: Path, setup_path: Path, name: str, save_mode: str,
    built: Path, held_out: HeldOut | None, gate: GateOptions,
) -> dict[str, Any]:
    """Score both archives, check the gate (raises GateFailure); the metrics.json record."""
    if held_out is None:
        return {"save_mode": save_mode, "gate": "not evaluated: no held-out set"}
    with tempfile.TemporaryDirectory(prefix="gate-") as tmp:
        reference = reference_score(task, pretrained, setup_path, held_out, Path(tmp))
        derived = evaluate_archive(built, held_out, Path(tmp) / "eval")
    result = accuracy_gates.check_gate(
        name, save_mode, reference.metric, reference.value, derived.value,
        reference.units, reference.unit_name, gate.accept_loss,
    )
    log = logger.info if result.passed else logger.warning
    log("%s%s", result.message(name), " (accepted with the flag)" if result.accepted else "")
    details = {"pretrained": reference.details, save_mode: derived.details,
               "held_out_source": held_out.source}
    return accuracy_gates.gate_record(result, details)


_REFERENCES: dict[tuple, Score] = {}


def reference_score(
    task: TransformerTask, pretrained: Path, setup_path: Path, held_out: HeldOut, work: Path
) -> Score:
    """The fp32 pretrained archive's score, once per model, configuration and held-out set
    in a process (a build of several save modes scores it once)."""
    weights = pretrained / WEIGHTS
    key = (task.mode, str(weights.resolve()), weights.stat().st_mtime_ns,
           setup_path.read_text(encoding="utf-8"), held_out.source, len(held_out.examples))
    if key not in _REFERENCES:
        setup = json.loads(setup_path.read_text(encoding="utf-8"))
        (work / "setup").mkdir()
        fp32_setup = work / "setup" / SETUP_CONFIG
        fp32_setup.write_text(json.dumps({**setup, "save_mode": "pretrained"}))
        mar = archive(task, pretrained, work / "reference", setup_config=fp32_setup)
        _REFERENCES[key] = evaluate_archive(mar, held_out, work / "eval")
    return _REFERENCES[key]


def add_metrics(mar: Path, training_metrics: Path, record: dict[str, Any]) -> None:
    """metrics.json (training's, plus the gate's record) into the archive's root."""
    metrics = {}
    if training_metrics.exists():
        metrics = json.loads(training_metrics.read_text(encoding="utf-8"))
    metrics[RUNTIME_KEY] = record
    with zipfile.ZipFile(mar, "a", compression=zipfile.ZIP_DEFLATED) as zipped:
        if METRICS_FILE in zipped.namelist():
            raise RuntimeError(f"{mar} already holds {METRICS_FILE}")
        zipped.writestr(METRICS_FILE, json.dumps(metrics, indent=2) + "\n")


def _same_device(source: Path, target: Path) -> bool:
    return source.stat().st_dev == target.parent.stat().st_dev


def _copy(source: Path, target: Path) -> None:
    """Copy beside ``target`` first, then rename: never a half-written archive there."""
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(source.read_bytes())
    os.replace(partial, target)


def add_arguments(parser: argparse.ArgumentParser, task: TransformerTask) -> None:
    """The archive scripts' options for derived archives."""
    parser.add_argument(
        "--save-mode", action="append", choices=DERIVED_MODES, default=[], dest="save_modes",
        help=f"also write {task.archive_name}_<mode>.mar in that CPU runtime, after scoring it "
        "and the fp32 archive on the held-out set (repeatable): onnx (fp32, fused; may not "
        "move the metric beyond one example), onnx_int8 (may lose 0.5 points), bf16 (0.2)",
    )
    parser.add_argument(
        "--accept-metric-loss", action="store_true",
        help="write a derived archive even if it loses more than its save mode may (or no "
        "held-out set is found); its metrics.json says so",
    )
    parser.add_argument(
        "--held-out-limit", type=int, default=None, metavar="N",
        help="score only the first N held-out examples (default: all of them)",
    )


def build_from_arguments(task: TransformerTask, pretrained: Path, args: Any) -> None:
    """Each ``--save-mode`` archive; a failed gate exits with its message and status 1."""
    gate = GateOptions(args.accept_metric_loss, args.held_out_limit)
    for save_mode in args.save_modes:
        try:
            path = archive_derived(task, pretrained, args.export_path, save_mode, gate=gate)
        except accuracy_gates.GateFailure as failure:
            logger.error("%s", failure)
            sys.exit(1)
        logger.info("wrote %s", path)
