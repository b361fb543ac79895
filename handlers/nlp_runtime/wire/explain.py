"""Wire format of an explanation request: whether to explain, by which method, on what budget.

A request asks for an explanation by being sent to ``/explanations/<model>`` (TorchServe sets
the ``explain`` header) or with ``"explain": true`` in its JSON body (SageMaker style, on
``/predictions`` or ``/invocations``). ``"explain"`` may also be an object choosing the method
and its budget: ``{"method": "shap", "max_evals": 300}``, ``{"n_steps": 64, "target": "Positive"}``.
"""

from dataclasses import dataclass
from enum import Enum
from typing import Any

from nlp_runtime.errors import RequestError

DEFAULT_N_STEPS, MAX_N_STEPS = 50, 300
DEFAULT_MAX_EVALS, MAX_MAX_EVALS = 300, 2000
KEYS = ("method", "n_steps", "max_evals", "target")


class ExplainMethod(Enum):
    INTEGRATED_GRADIENTS = "integrated_gradients"
    SHAP = "shap"


@dataclass(frozen=True)
class ExplainOptions:
    method: ExplainMethod = ExplainMethod.INTEGRATED_GRADIENTS
    n_steps: int = DEFAULT_N_STEPS  # integrated gradients: interpolation steps
    max_evals: int = DEFAULT_MAX_EVALS  # SHAP: model evaluations
    target: str | None = None  # a label to explain instead of the predicted one


def parse_explain(value: Any) -> ExplainOptions | None:
    """The body's ``explain`` value → options, or None for no explanation; 400 if invalid."""
    if value is None or value is False:
        return None
    if value is True:
        return ExplainOptions()
    if not isinstance(value, dict):
        raise RequestError(f"'explain' must be true, false or an object, got {value!r}")
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise RequestError(f"unknown 'explain' key {unknown[0]!r}; known: {list(KEYS)}")
    methods = [m.value for m in ExplainMethod]
    method = value.get("method", ExplainMethod.INTEGRATED_GRADIENTS.value)
    if method not in methods:
        raise RequestError(f"'explain.method' must be one of {methods}, got {method!r}")
    target = value.get("target")
    if target is not None and not isinstance(target, str):
        raise RequestError(f"'explain.target' must be a string, got {target!r}")
    return ExplainOptions(
        method=ExplainMethod(method),
        n_steps=_bounded(value, "n_steps", DEFAULT_N_STEPS, MAX_N_STEPS),
        max_evals=_bounded(value, "max_evals", DEFAULT_MAX_EVALS, MAX_MAX_EVALS),
        target=target,
    )


def _bounded(value: dict[str, Any], key: str, default: int, maximum: int) -> int:
    number = value.get(key, default)
    if isinstance(number, bool) or not isinstance(number, int) or not 2 <= number <= maximum:
        raise RequestError(
            f"'explain.{key}' must be an integer from 2 to {maximum}, got {number!r}"
        )
    return number
