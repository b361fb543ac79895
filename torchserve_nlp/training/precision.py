"""Training precision: bf16 autocast where the CPU computes bf16 natively, fp32 elsewhere.

Native bf16 is read from the CPU flags (``nlp_runtime.hf.cpu.native_bf16``), never assumed:
without it PyTorch emulates bf16 and training gets slower than fp32. Autocast runs the matrix
products in bf16 while the weights, the optimizer state and the loss stay fp32. Evaluation
always runs in fp32, the precision of the saved model and of its recorded metric.
"""

import contextlib
import logging
from collections.abc import Iterator
from enum import StrEnum

import torch

logger = logging.getLogger(__name__)


class Precision(StrEnum):
    BF16 = "bf16"
    FP32 = "fp32"


PRECISION_CHOICES = ("auto", Precision.BF16.value, Precision.FP32.value)


def choose_precision(requested: str, native_bf16: bool) -> Precision:
    """``auto`` → bf16 iff the CPU has it natively; ``bf16``/``fp32`` as asked (bf16 without
    native support is allowed, but slow)."""
    if requested == "auto":
        return Precision.BF16 if native_bf16 else Precision.FP32
    try:
        return Precision(requested)
    except ValueError:
        raise ValueError(
            f"precision must be one of {PRECISION_CHOICES}, got {requested!r}"
        ) from None


def detect_precision(requested: str = "auto") -> Precision:
    """The training precision for this machine (see ``choose_precision``)."""
    from nlp_runtime.hf.cpu import native_bf16

    native = native_bf16()
    chosen = choose_precision(requested, native)
    if chosen is Precision.BF16 and not native:
        logger.warning("bf16 asked for, but this CPU has no native bf16: expect slow training")
    logger.info("training precision %s (native bf16 on this CPU: %s)", chosen.value,
                "yes" if native else "no")
    return chosen


@contextlib.contextmanager
def autocast(precision: Precision) -> Iterator[None]:
    """bf16 autocast on the CPU for ``Precision.BF16``; nothing for fp32."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision is Precision.BF16):
        yield
