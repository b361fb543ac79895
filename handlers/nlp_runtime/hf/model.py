"""What the Transformer handlers share: tokenizer, labels and one batched forward, loaded
from an archive in any save mode.

A forward takes the tokenizer's features (``input_ids``, ``attention_mask`` and, if the
model has them, ``token_type_ids``) and returns the task's output tensors as a tuple of
float32 torch tensors: ``("logits",)`` for classification, ``("start_logits", "end_logits")``
for QA. By ``save_mode``:

* ``pretrained``: the ``save_pretrained`` safetensors, eager fp32;
* ``bf16``: the same weights, run under bf16 autocast from a copy whose Linear weights are
  stored in bf16 (every other tensor shared with the fp32 model); outputs cast to float32.
  On a CPU without native bf16 it still serves, emulated and slower (logged at load);
* ``torchscript``: a traced module taking ``(input_ids, attention_mask[, token_type_ids])``
  positionally (torchserve_nlp.archive.tracing writes such modules);
* ``onnx``, ``onnx_int8``: an ONNX graph run by ONNX Runtime (hf.onnx_runtime), with this
  worker's share of the physical cores as intra-op threads unless ``intra_op_threads`` says.

``LoadedModel.eager`` is the fp32 module integrated gradients differentiate, for pretrained
and bf16 archives; None for the others, whose explanation requests get ``eager_required``.
"""

import copy
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer

from nlp_runtime.errors import RequestError
from nlp_runtime.hf import cpu
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
    """The archive's forward for its ``save_mode`` (module docstring); ``serialized_file`` is
    the manifest's, the traced module or the ONNX graph."""
    mode = config.save_mode
    if mode is SaveMode.TORCHSCRIPT:
        module = torch.jit.load(str(Path(model_dir) / serialized_file), map_location="cpu")
        return LoadedModel(traced_forward(module.eval()), None)
    if mode.onnx:
        from nlp_runtime.hf.onnx_runtime import (
            leave_the_cores_to_onnx_runtime,
            onnx_forward,
            onnx_session,
        )

        threads = cpu.worker_threads(config.intra_op_threads, config.workers)
        session = onnx_session(Path(model_dir) / serialized_file, threads)
        leave_the_cores_to_onnx_runtime()
        return LoadedModel(onnx_forward(session, tuple(outputs)), None)
    model = auto_class.from_pretrained(model_dir, use_safetensors=True, local_files_only=True)
    model.eval()
    if mode is SaveMode.BF16:
        if not cpu.native_bf16():
            logger.warning(
                "save_mode bf16 on a CPU without native bf16 (none of %s in its flags): it "
                "serves correctly but emulated, slower than fp32; serve the pretrained "
                "archive on this machine", ", ".join(sorted(cpu.NATIVE_BF16_FLAGS)),
            )
        return LoadedModel(bf16_forward(model, tuple(outputs)), model)
    return LoadedModel(pretrained_forward(model, tuple(outputs)), model)


NOT_EAGER = tuple(mode for mode in SaveMode if not mode.eager)
# What the build appends to a model's archive name for each save mode that is not eager.
DERIVED_SUFFIXES = ("_Torchscript", "_onnx_int8", "_onnx")


def eager_required(archive: str) -> RequestError:
    """Why an archive without the eager model (save_mode torchscript, onnx or onnx_int8)
    cannot answer an integrated-gradients request, naming the archive that can when
    ``archive`` is named as the build names a derived archive."""
    base = next(
        (archive[: -len(s)] for s in DERIVED_SUFFIXES if archive.endswith(s) and archive != s),
        None,
    )
    ask = f"ask {base} (its save_mode pretrained form)" if base else (
        "ask the archive of the same model with save_mode pretrained or bf16"
    )
    modes = ", ".join(mode.value for mode in NOT_EAGER)
    return RequestError(
        f"{archive} runs a compiled model (TorchScript or ONNX Runtime: save_mode {modes}), "
        f"which cannot be differentiated for integrated gradients: {ask}, or, for sequence "
        "classification, method shap"
    )


def bf16_forward(model: torch.nn.Module, outputs: tuple[str, ...]) -> Forward:
    """``model`` under bf16 autocast (matrix products in bf16, reductions such as softmax and
    layer norm in fp32), run from ``bf16_linear_copy``; outputs as float32."""
    runner = bf16_linear_copy(model)

    def forward(features: Features) -> tuple[torch.Tensor, ...]:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            result = runner(**features)
        return tuple(result[name].float() for name in outputs)

    return forward


def bf16_linear_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose Linear weights and biases are stored in bf16, sharing every
    other parameter and buffer with it. Autocast casts those weights to bf16 anyway, but on
    every forward (its cast cache lives for one autocast block): stored once, the same answers
    came 7% faster through the sentiment handler in-process. ``model`` stays fp32 for
    integrated gradients."""
    shared: dict[int, Any] = {
        id(parameter): parameter
        for module in model.modules() if not isinstance(module, torch.nn.Linear)
        for parameter in module.parameters(recurse=False)
    }
    shared.update({id(buffer): buffer for buffer in model.buffers()})
    runner = copy.deepcopy(model, memo=shared)
    for module in runner.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
    return runner.eval()


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
