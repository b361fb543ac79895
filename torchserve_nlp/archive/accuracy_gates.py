"""How far a derived archive's held-out metric may fall below the fp32 archive's.

Pure functions: ``check_gate`` compares two scores (metrics in [0, 1]; a "point" is 0.01) and
says whether the build may go on, and ``gate_record`` is what the archive's metrics.json
carries. The rules:

* ``onnx``: the same fp32 model in another runtime; its metric may not move at all beyond
  noise, in either direction. Noise is one held-out example (tweet, question or entity)
  changing its answer: 1 / that count.
* ``bf16``: may lose at most 0.2 points.
* ``onnx_int8``: may lose at most 0.5 points.

A failing gate stops the build with a message naming the figures, unless the builder accepts
the loss (``--accept-metric-loss``); the record then says it was accepted.
"""

from dataclasses import dataclass
from typing import Any

POINT = 0.01
ALLOWED_LOSS_POINTS = {"bf16": 0.2, "onnx_int8": 0.5}
EXACT_MODES = ("onnx",)  # may not move beyond one example either way
ACCEPT_FLAG = "--accept-metric-loss"


@dataclass(frozen=True)
class GateResult:
    save_mode: str
    metric: str
    reference: float  # the fp32 (pretrained) archive's metric
    derived: float
    allowed: float  # the largest change allowed, as a fraction (not points)
    two_sided: bool  # onnx: any change counts, not only losses
    units: int
    unit_name: str
    accepted: bool = False

    @property
    def change(self) -> float:
        return self.derived - self.reference

    @property
    def passed(self) -> bool:
        moved = abs(self.change) if self.two_sided else -self.change
        return moved <= self.allowed + 1e-12

    def message(self, archive: str) -> str:
        verb = "moved" if self.two_sided else "lost"
        moved = abs(self.change) if self.two_sided else max(0.0, -self.change)
        limit = (
            f"noise (one of {self.units} {self.unit_name}: {self.allowed / POINT:.3g} points)"
            if self.two_sided else f"{self.allowed / POINT:.3g} points"
        )
        head = (
            f"{archive}: held-out {self.metric} {self.derived:.4f} (save_mode {self.save_mode}) "
            f"against {self.reference:.4f} for the fp32 pretrained archive on {self.units} "
            f"{self.unit_name}"
        )
        if self.passed:
            return f"{head}: within {limit}"
        return (
            f"{head}: {verb} {moved / POINT:.3g} points, more than the {limit} save_mode "
            f"{self.save_mode} may {'move' if self.two_sided else 'lose'}. Not built; pass "
            f"{ACCEPT_FLAG} to build it anyway"
        )


class GateFailure(RuntimeError):
    """A derived archive lost more held-out metric than its save mode may."""


def allowed_change(save_mode: str, units: int) -> tuple[float, bool]:
    """(largest allowed change as a fraction, whether gains count too) for ``save_mode``."""
    if save_mode in EXACT_MODES:
        return 1.0 / max(1, units), True
    if save_mode in ALLOWED_LOSS_POINTS:
        return ALLOWED_LOSS_POINTS[save_mode] * POINT, False
    raise ValueError(f"no accuracy gate for save_mode {save_mode!r}")


def check_gate(
    archive: str, save_mode: str, metric: str, reference: float, derived: float,
    units: int, unit_name: str, accept: bool = False,
) -> GateResult:
    """The gate's verdict; raises GateFailure with the message when it fails and ``accept``
    is false."""
    allowed, two_sided = allowed_change(save_mode, units)
    result = GateResult(
        save_mode, metric, reference, derived, allowed, two_sided, units, unit_name
    )
    if not result.passed:
        if not accept:
            raise GateFailure(result.message(archive))
        result = GateResult(**{**result.__dict__, "accepted": True})
    return result


def gate_record(result: GateResult, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The derived archive's metric next to the fp32 one, for its metrics.json."""
    record: dict[str, Any] = {
        "save_mode": result.save_mode,
        "metric": result.metric,
        "held_out": f"{result.units} {result.unit_name}",
        "pretrained": round(result.reference, 4),
        result.save_mode: round(result.derived, 4),
        "change_points": round(result.change / POINT, 3),
        "allowed": (
            f"within {result.allowed / POINT:.3g} points either way (one of {result.units})"
            if result.two_sided else f"a loss of at most {result.allowed / POINT:.3g} points"
        ),
        "passed": result.passed,
        "accepted_with_flag": result.accepted,
    }
    if details:
        record["details"] = details
    return record
