"""Configuration shared by the Transformer handlers, parsed once at load.

The keys are those of the seed's ``setup_config.json``; the same keys may sit in the
``handler:`` section of the archive's model-config.yaml (TorchServe hands that section over
as ``context.model_yaml_config["handler"]``). Both sources go through ``parse_handler_config``;
a key given by both must agree. Unknown keys and invalid values raise ``ValueError`` naming
the key.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from nlp_runtime.files import SETUP_CONFIG
from nlp_runtime.limits import LIMITS_KEY

E = TypeVar("E", bound=Enum)


class Mode(Enum):
    SEQUENCE_CLASSIFICATION = "sequence_classification"
    QUESTION_ANSWERING = "question_answering"
    TOKEN_CLASSIFICATION = "token_classification"


class SaveMode(Enum):
    PRETRAINED = "pretrained"  # save_pretrained safetensors, eager fp32
    TORCHSCRIPT = "torchscript"  # a traced module
    ONNX = "onnx"  # fp32 ONNX, fused at build time, run by ONNX Runtime
    ONNX_INT8 = "onnx_int8"  # dynamic int8 (per-channel weights) ONNX, run by ONNX Runtime
    BF16 = "bf16"  # the safetensors weights, run under bf16 autocast

    @property
    def eager(self) -> bool:
        """Whether the archive holds the eager PyTorch model (integrated gradients need it)."""
        return self in (SaveMode.PRETRAINED, SaveMode.BF16)

    @property
    def onnx(self) -> bool:
        return self in (SaveMode.ONNX, SaveMode.ONNX_INT8)


class AggregationStrategy(Enum):
    NONE = "none"
    SIMPLE = "simple"
    FIRST = "first"
    AVERAGE = "average"
    MAX = "max"


@dataclass(frozen=True)
class TransformerHandlerConfig:
    model_name: str
    mode: Mode
    do_lower_case: bool = True
    num_labels: int | None = None
    save_mode: SaveMode = SaveMode.PRETRAINED
    max_length: int = 128
    # Tokens shared by consecutive windows of a text longer than max_length.
    doc_stride: int = 32
    aggregation_strategy: AggregationStrategy = AggregationStrategy.SIMPLE
    ignore_labels: tuple[str, ...] = ("O",)
    # A request whose text needs more windows than this is refused (413), bounding a batch.
    max_windows: int = 16
    # Question answering defaults (a request's parameters may override them), as the
    # transformers 4.x QuestionAnsweringPipeline's.
    top_k: int = 1
    max_answer_len: int = 15
    handle_impossible_answer: bool = False
    # A batch's rows (texts or windows) go through the model in groups of similar length
    # (hf/forward_plan.py): at most this many padded tokens per forward, and a cut made only
    # where it saves more padded tokens than this (the fixed cost of one more forward).
    max_tokens_per_forward: int = 8192
    forward_overhead_tokens: int = 32
    # ONNX Runtime's intra-op threads; None: this worker's share of the physical cores
    # (hf.cpu.worker_threads).
    intra_op_threads: int | None = None
    # Not a setup_config key: model-config.yaml's minWorkers, the workers sharing the cores.
    workers: int = 1


def enum_value(enum: type[E], value: Any, key: str) -> E:
    """``value`` as a member of ``enum``; ValueError naming ``key`` and the choices."""
    choices = [member.value for member in enum]
    if isinstance(value, str):
        for member in enum:
            if member.value == value.strip().lower():
                return member
    raise ValueError(f"{key!r} must be one of {choices}, got {value!r}")


def int_value(value: Any, key: str, minimum: int) -> int:
    """An int (or decimal string, as the seed writes "max_length": "150") >= minimum."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key!r} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{key!r} must be >= {minimum}, got {value}")
    return value


def bool_value(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{key!r} must be true or false, got {value!r}")


def string_list(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key!r} must be a list of strings, got {value!r}")
    return tuple(value)


def _model_name(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key!r} must be a non-empty string, got {value!r}")
    return value


_PARSERS = {
    "model_name": _model_name,
    "mode": lambda v, k: enum_value(Mode, v, k),
    "do_lower_case": bool_value,
    "num_labels": lambda v, k: int_value(v, k, 1),
    "save_mode": lambda v, k: enum_value(SaveMode, v, k),
    "max_length": lambda v, k: int_value(v, k, 8),
    "doc_stride": lambda v, k: int_value(v, k, 0),
    "aggregation_strategy": lambda v, k: enum_value(AggregationStrategy, v, k),
    "ignore_labels": string_list,
    "max_windows": lambda v, k: int_value(v, k, 1),
    "top_k": lambda v, k: int_value(v, k, 1),
    "max_answer_len": lambda v, k: int_value(v, k, 1),
    "handle_impossible_answer": bool_value,
    "max_tokens_per_forward": lambda v, k: int_value(v, k, 1),
    "forward_overhead_tokens": lambda v, k: int_value(v, k, 0),
    "intra_op_threads": lambda v, k: int_value(v, k, 1),
}


def parse_handler_config(raw: Mapping[str, Any]) -> TransformerHandlerConfig:
    """Validate a mapping of setup_config keys into the frozen config."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"handler configuration must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_PARSERS))
    if unknown:
        raise ValueError(
            f"unknown configuration key {unknown[0]!r}; known keys: {sorted(_PARSERS)}"
        )
    for required in ("model_name", "mode"):
        if required not in raw:
            raise ValueError(f"configuration key {required!r} is required")
    values = {key: _PARSERS[key](value, key) for key, value in raw.items()}
    config = TransformerHandlerConfig(**values)
    if config.doc_stride >= config.max_length:
        raise ValueError(
            f"'doc_stride' ({config.doc_stride}) must be smaller than 'max_length' "
            f"({config.max_length})"
        )
    return config


def merge_sources(setup: Mapping[str, Any], yaml_handler: Mapping[str, Any]) -> dict[str, Any]:
    """One mapping from both sources; a key they both give must have the same value."""
    for key in set(setup) & set(yaml_handler):
        if setup[key] != yaml_handler[key]:
            raise ValueError(
                f"configuration key {key!r} is {setup[key]!r} in {SETUP_CONFIG} but "
                f"{yaml_handler[key]!r} in model-config.yaml"
            )
    return {**setup, **yaml_handler}


def load_handler_config(
    model_dir: Path,
    model_yaml_config: Mapping[str, Any] | None,
    expected_mode: Mode | None = None,
) -> TransformerHandlerConfig:
    """Read ``setup_config.json`` (if archived) and the yaml ``handler`` section, then parse;
    with ``expected_mode``, refuse a configuration written for another task's handler."""
    path = Path(model_dir) / SETUP_CONFIG
    setup = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    yaml_handler = (model_yaml_config or {}).get("handler") or {}
    if isinstance(yaml_handler, Mapping):  # every handler reads its limits (nlp_runtime.limits)
        yaml_handler = {k: v for k, v in yaml_handler.items() if k != LIMITS_KEY}
    for name, source in ((SETUP_CONFIG, setup), ("model-config.yaml handler", yaml_handler)):
        if not isinstance(source, Mapping):
            raise ValueError(f"{name} must hold a mapping, got {type(source).__name__}")
    if not setup and not yaml_handler:
        raise ValueError(
            f"no handler configuration: archive {SETUP_CONFIG} or give a 'handler' section "
            "in model-config.yaml"
        )
    config = parse_handler_config(merge_sources(setup, yaml_handler))
    config = replace(config, workers=yaml_workers(model_yaml_config))
    if expected_mode is not None and config.mode is not expected_mode:
        raise ValueError(
            f"'mode' is {config.mode.value!r}; this handler serves {expected_mode.value}"
        )
    return config


def yaml_workers(model_yaml_config: Mapping[str, Any] | None) -> int:
    """model-config.yaml's ``minWorkers`` (TorchServe starts that many workers), else 1."""
    value = (model_yaml_config or {}).get("minWorkers", 1)
    try:
        return int_value(value, "minWorkers", 1)
    except ValueError:
        return 1
