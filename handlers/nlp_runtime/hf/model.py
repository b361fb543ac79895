"""What the Transformer handlers share: tokenizer, labels and one batched forward, loaded
from an archive in either save mode.

A forward takes the tokenizer's features (``input_ids``, ``attention_mask`` and, if the
model has them, ``token_type_ids``) and returns the task's output tensors as a tuple:
``("logits",)`` for classification, ``("start_logits", "end_logits")`` for QA. A traced
archive holds a module taking ``(input_ids, attention_mask[, token_type_ids])`` positionally
(torchserve_nlp.archive.tracing writes such modules) and returning those tensors in that order.
"""

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer

from nlp_runtime.errors import RequestError
from nlp_runtime.hf.config import SaveMode, TransformerHandlerConfig

Features = Mapping[str, torch.Tensor]
Forward = Callable[[Features], tuple[torch.Tensor, ...]]
logger = logging.getLogger(__name__)
TRACED_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
MODEL_CONFIG = "config.json"


def load_tokenizer(model_dir: Path, config: TransformerHandlerConfig, need_offsets: bool) -> Any:
    """The archived tokenizer, padding on the right (batches are trimmed at the end)."""
    tokenizer = AutoTokenizer.from_pretrained(
        model_dir, do_lower_case=config.do_lower_case, local_files_only=True
    )
    if need_offsets and not tokenizer.is_fast:
        raise ValueError(f"{model_dir} holds a slow tokenizer; archive tokenizer.json")
    tokenizer.padding_side = "right"
    return tokenizer


@dataclass(frozen=True)
class LoadedModel:
    forward: Forward
    # The eager model, which explanations differentiate; None for a traced archive.
    eager: torch.nn.Module | None


def load_model(
    model_dir: Path,
    config: TransformerHandlerConfig,
    auto_class: Any,
    outputs: Sequence[str],
    serialized_file: str,
) -> LoadedModel:
    """``save_mode`` pretrained: ``auto_class.from_pretrained`` (safetensors only);
    torchscript: the archived traced module."""
    if config.save_mode is SaveMode.TORCHSCRIPT:
        module = torch.jit.load(str(Path(model_dir) / serialized_file), map_location="cpu")
        return LoadedModel(traced_forward(module.eval()), None)
    model = auto_class.from_pretrained(model_dir, use_safetensors=True, local_files_only=True)
    return LoadedModel(pretrained_forward(model.eval(), tuple(outputs)), model)


def eager_required(archive: str) -> RequestError:
    """Why a traced archive cannot answer an integrated-gradients request."""
    return RequestError(
        f"{archive} is a TorchScript archive (save_mode torchscript), which cannot be "
        "differentiated for integrated gradients: ask the pretrained archive of the same "
        "model (or, for sequence classification, method shap)"
    )


def pretrained_forward(model: torch.nn.Module, outputs: tuple[str, ...]) -> Forward:
    def forward(features: Features) -> tuple[torch.Tensor, ...]:
        result = model(**features)
        return tuple(result[name] for name in outputs)

    return forward


def traced_forward(module: torch.jit.ScriptModule) -> Forward:
    arity = len(list(module.graph.inputs())) - 1  # the first graph input is the module
    names = TRACED_INPUTS[:arity]

    def forward(features: Features) -> tuple[torch.Tensor, ...]:
        arguments = [features[name] if name in features else _zeros(features) for name in names]
        result = module(*arguments)
        return tuple(result) if isinstance(result, (tuple, list)) else (result,)

    return forward


def _zeros(features: Features) -> torch.Tensor:
    return torch.zeros_like(features["input_ids"])


def config_labels(model_dir: Path) -> list[str]:
    """Labels in index order from config.json's id2label."""
    path = Path(model_dir) / MODEL_CONFIG
    if not path.exists():
        raise ValueError(f"archive {MODEL_CONFIG} (with id2label) to name the labels")
    id2label = json.loads(path.read_text(encoding="utf-8")).get("id2label")
    if not id2label:
        raise ValueError(f"{MODEL_CONFIG} has no id2label")
    return [id2label[str(i)] for i in range(len(id2label))]


def check_num_labels(config: TransformerHandlerConfig, labels: Sequence[str]) -> None:
    if config.num_labels is not None and config.num_labels != len(labels):
        raise ValueError(
            f"'num_labels' is {config.num_labels}; the archive names {len(labels)} labels"
        )


def too_many_windows(windows: int, config: TransformerHandlerConfig, what: str) -> RequestError:
    return RequestError(
        f"{what} needs {windows} windows of 'max_length' {config.max_length} tokens; "
        f"at most {config.max_windows} are served per request",
        status=413,
    )
