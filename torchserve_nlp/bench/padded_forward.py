"""An archive's own tokenizer and forward, run with a chosen padding: every text to
``max_length`` (what TorchServe's Huggingface_Transformers example did), each batch to its
longest text, or each batch cut into groups of similar length (what this project's handlers
do, through ``nlp_runtime.hf.forward_plan``). The baseline the handlers are measured against:
same texts, weights and process, only the padding differs."""

import importlib
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from torchserve_nlp.bench.phases import PhaseRun
from torchserve_nlp.serving.local_archive import LocalArchive

WAYS = ("max_length", "longest", "grouped")
AUTO_CLASSES = {
    "sequence_classification": "AutoModelForSequenceClassification",
    "token_classification": "AutoModelForTokenClassification",
}


@dataclass(frozen=True)
class ArchiveModel:
    tokenizer: Any
    forward: Any
    config: Any  # the archive's TransformerHandlerConfig
    plan_module: Any  # the archive's nlp_runtime.hf.forward_plan


def load_archive_model(archive: LocalArchive) -> ArchiveModel:
    """Tokenizer, forward and plan built by the archive's own nlp_runtime."""
    config_module = importlib.import_module("nlp_runtime.hf.config")
    model_module = importlib.import_module("nlp_runtime.hf.model")
    model_dir = archive.info.model_dir
    config = config_module.load_handler_config(model_dir, archive.info.model_config)
    if config.mode.value not in AUTO_CLASSES:
        raise SystemExit(f"{archive.info.model_name}: mode {config.mode.value!r} is not a "
                         f"text-input task; choose an archive of {sorted(AUTO_CLASSES)}")
    auto_class = getattr(importlib.import_module("transformers"), AUTO_CLASSES[config.mode.value])
    tokenizer = model_module.load_tokenizer(model_dir, config, need_offsets=False)
    serialized = archive.info.manifest["model"]["serializedFile"]
    loaded = model_module.load_model(model_dir, config, auto_class, ("logits",), serialized)
    plan_module = importlib.import_module("nlp_runtime.hf.forward_plan")
    return ArchiveModel(tokenizer, loaded.forward, config, plan_module)


def timed_forward(model: ArchiveModel, texts: list[str], way: str, overhead: int):
    """(seconds, output, padded tokens, forwards) of one batch padded ``way``."""
    config = model.config
    start = time.perf_counter()
    encoded = model.tokenizer(
        texts, truncation=True, max_length=config.max_length,
        padding="max_length" if way == "max_length" else "longest", return_tensors="pt",
    )
    features = dict(encoded)
    with torch.inference_mode():
        if way == "grouped":
            plan = model.plan_module.plan_forwards(
                encoded["attention_mask"].sum(-1).numpy(), config.max_tokens_per_forward,
                overhead,
            )
            per_token = config.mode.value == "token_classification"
            (output,) = model.plan_module.run_plan(model.forward, features, plan, per_token)
            padded, forwards = plan.padded_tokens, len(plan.groups)
        else:
            (output,) = model.forward(features)
            padded, forwards = encoded["input_ids"].numel(), 1
    return time.perf_counter() - start, output, padded, forwards


def real_tokens(model: ArchiveModel, texts: list[str]) -> int:
    lengths = model.tokenizer(
        texts, truncation=True, max_length=model.config.max_length, return_length=True
    )["length"]
    return int(sum(lengths))


def run_padded(
    archive_path: Path, warmup: Sequence[str], measured: Sequence[str],
    batch_size: int | None, max_seconds: float, way: str = "max_length",
    label: str = "max_length",
) -> PhaseRun:
    """``measured`` through the archive's tokenizer and forward padded ``way``, in batches of
    ``batch_size`` (default: the archive's batchSize): a phase comparable with
    ``phases.run_in_process`` minus request decoding and post-processing."""
    if way not in WAYS:
        raise ValueError(f"way must be one of {WAYS}, got {way!r}")
    with (
        tempfile.TemporaryDirectory(prefix="bench-padded-") as work,
        LocalArchive.open(archive_path, work, batch_size) as archive,
    ):
        model = load_archive_model(archive)
        size = archive.batch_size
        overhead = model.config.forward_overhead_tokens
        texts = list(measured)
        for start in range(0, max(len(warmup), 1), size):
            timed_forward(model, list(warmup[start : start + size]) or texts[:size], way, overhead)
        deadline = time.monotonic() + max_seconds
        latencies: list[float] = []
        done = 0
        start = time.perf_counter()
        for first in tqdm(range(0, len(texts), size), desc=label, unit="batch", disable=None,
                          leave=False):
            if time.monotonic() >= deadline:
                break
            spent, *_ = timed_forward(model, texts[first : first + size], way, overhead)
            latencies.append(spent)
            done += len(texts[first : first + size])
        elapsed = time.perf_counter() - start
    return PhaseRun([200] * done, latencies, elapsed, done < len(texts), size)
