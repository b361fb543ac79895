"""ONNX archives (``save_mode`` onnx and onnx_int8) run by ONNX Runtime on the CPU.

The archived graph takes ``input_ids``, ``attention_mask`` and (if the model has them)
``token_type_ids`` as int64 ``[batch, sequence]`` with both axes dynamic, and returns the
task's outputs by name (torchserve_nlp.archive.onnx_export writes such graphs, already fused
or quantized). The forward hands back torch tensors, as the other save modes do.

``onnxruntime`` is imported only here, when an ONNX archive loads: other archives do not
need it installed.
"""

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)


def onnx_session(path: Path, threads: int) -> Any:
    """A CPU session with ``threads`` intra-op threads and one inter-op thread (one graph runs
    at a time in a worker)."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(
            f"{Path(path).name} is an ONNX archive: install onnxruntime into the serving "
            "environment (see the archive's requirements.txt)"
        ) from error
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    # The fp32 graph was fused at build time; this adds ORT's own fusions (those of the
    # quantized graph included) when the session is made.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    logger.info(
        "ONNX Runtime %s: %s with %d intra-op threads", onnxruntime.__version__, Path(path).name,
        threads,
    )
    return session


def leave_the_cores_to_onnx_runtime() -> None:
    """ONNX Runtime's own threads do the model's work. PyTorch (post-processing on small
    tensors) and the HF tokenizers' thread pool would otherwise wake their own threads on the
    same cores between runs: one PyTorch thread and a sequential tokenizer took the int8
    sentiment archive from 204 to 455 texts/s in-process on 2 cores (batches of 8). Both are
    process-wide settings; a TorchServe worker runs one model (LocalArchive restores them)."""
    torch.set_num_threads(1)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


def onnx_forward(session: Any, outputs: Sequence[str]) -> Any:
    """The task's forward over ``session``: features (torch or NumPy) → output tensors, in the
    order of ``outputs``."""
    inputs = [node.name for node in session.get_inputs()]
    available = {node.name for node in session.get_outputs()}
    missing = [name for name in outputs if name not in available]
    if missing:
        raise ValueError(
            f"the ONNX graph has no output {missing[0]!r}; it has {sorted(available)}"
        )
    names = list(outputs)

    def forward(features: Any) -> tuple[torch.Tensor, ...]:
        feeds = {name: _int64(features, name) for name in inputs}
        return tuple(torch.from_numpy(result) for result in session.run(names, feeds))

    return forward


def _int64(features: Any, name: str) -> np.ndarray:
    if name not in features:  # a tokenizer without segment ids: one segment
        return np.zeros(np.shape(features["input_ids"]), dtype=np.int64)
    value = features[name]
    array = value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    return np.ascontiguousarray(array, dtype=np.int64)
