"""How long a training will take on this machine, from the pace of its own first steps.

A fine-tuning's cost is close to proportional to the tokens it computes (padding included), so
after a few timed steps the rest is estimated as (tokens left) / (tokens per second so far),
with an evaluation's forward-only token counted as a third of a training token.
"""

import math
from dataclasses import dataclass

EVAL_TOKEN_COST = 1 / 3  # a forward pass, against forward + backward + optimizer


@dataclass(frozen=True)
class Pace:
    tokens: int  # padded tokens computed so far
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def remaining_seconds(pace: Pace, train_tokens_left: int, eval_tokens: int = 0) -> float:
    """Seconds for ``train_tokens_left`` training tokens and ``eval_tokens`` evaluation
    tokens at ``pace``; infinite before any measurement."""
    rate = pace.tokens_per_second
    if rate <= 0:
        return math.inf
    return (train_tokens_left + EVAL_TOKEN_COST * eval_tokens) / rate


def about(seconds: float) -> str:
    """A human estimate: "about 40 s", "about 3 min", "about 1 h 5 min"."""
    if not math.isfinite(seconds):
        return "unknown time"
    if seconds < 90:
        return f"about {max(10, round(seconds / 10) * 10)} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60} min"


def step_label(step: str | None, what: str) -> str:
    """"[2/3] training the NER model" for step "2/3", else "training the NER model"."""
    return f"[{step}] training {what}" if step else f"training {what}"
