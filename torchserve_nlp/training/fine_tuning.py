"""The fine-tuning loop the three Transformer trainers share: AdamW, linear warm-up then decay,
optional gradient clipping, autocast in the chosen precision, a held-out evaluation after every
epoch (or only the last), and a progress bar counted in tokens, so that its ETA holds for
batches of any length. After a few steps it logs how long the whole run will take on this
machine, measured, not guessed (``pace``).
"""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm
from transformers import get_linear_schedule_with_warmup

from torchserve_nlp.training.pace import Pace, about, remaining_seconds
from torchserve_nlp.training.precision import Precision, autocast

logger = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]
CALIBRATION_STEPS = 6  # steps timed (after the first, which warms up) before the estimate
# The three default fine-tunings keep the embeddings and the two lowest of MiniLM's six layers
# as pre-trained: a step costs 40% less (no backward below layer 3), and the held-out scores
# stay above the first build's bars (docs/benchmarks.md, "First build").
DEFAULT_FROZEN_LAYERS = 2


@dataclass(frozen=True)
class Optimisation:
    epochs: int
    learning_rate: float
    warmup_fraction: float = 0.0
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0  # None: no clipping


@dataclass(frozen=True)
class TrainingRun:
    """What a fine-tuning computed and how fast."""

    precision: str
    steps: int
    tokens: int  # real tokens trained on, all epochs
    padded_tokens: int  # tokens computed, padding included
    seconds: float  # the training steps alone (no tokenizing, evaluating or saving)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "steps": self.steps,
            "tokens": self.tokens,
            "padded_tokens": self.padded_tokens,
            "padding_fraction": round(1 - self.tokens / max(1, self.padded_tokens), 4),
            "seconds": round(self.seconds, 1),
            "tokens_per_second": round(self.tokens_per_second, 1),
        }


def freeze_word_embeddings(model: torch.nn.Module) -> None:
    """Keep the input word embeddings as pre-trained: a third of MiniLM's weights, whose dense
    gradient and AdamW update cost ~15% of a step on short batches."""
    model.get_input_embeddings().requires_grad_(False)


def freeze_lower_layers(model: torch.nn.Module, layers: int) -> None:
    """Keep the embeddings and the lowest ``layers`` encoder layers as pre-trained, so that
    the backward pass stops above them (BERT-family encoders). 0 leaves the model as it is."""
    if layers <= 0:
        return
    encoder_layers = model.base_model.encoder.layer
    if layers >= len(encoder_layers):
        raise ValueError(
            f"frozen_layers={layers} leaves nothing of the {len(encoder_layers)}-layer encoder "
            "to train; freeze fewer layers"
        )
    model.base_model.embeddings.requires_grad_(False)
    for layer in encoder_layers[:layers]:
        layer.requires_grad_(False)


def batch_tokens(batch: Batch) -> tuple[int, int]:
    """(real, padded) tokens of a collated batch."""
    mask = batch["attention_mask"]
    return int(mask.sum()), mask.numel()


def fine_tune(
    model: torch.nn.Module,
    epoch_batches: Sequence[Sequence[Batch]],
    optimisation: Optimisation,
    evaluate: Callable[[], dict[str, Any]],
    precision: Precision,
    label: str = "fine-tuning",
    eval_tokens: int = 0,
    evaluate_every_epoch: bool = True,
) -> tuple[list[dict[str, Any]], TrainingRun]:
    """Train ``model`` on ``epoch_batches[e]`` in epoch ``e`` (keyword arguments of a forward
    that returns a loss). Returns the ``evaluate()`` results, each with its epoch, and the run.
    ``eval_tokens`` (tokens one evaluation computes) only refines the time estimate."""
    steps = sum(len(batches) for batches in epoch_batches)
    counts = [batch_tokens(batch) for batches in epoch_batches for batch in batches]
    total_padded = sum(padded for _, padded in counts)
    evaluations = len(epoch_batches) if evaluate_every_epoch else 1
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        parameters, lr=optimisation.learning_rate, weight_decay=optimisation.weight_decay
    )
    schedule = get_linear_schedule_with_warmup(
        optimizer, int(optimisation.warmup_fraction * steps), max(steps, 1)
    )
    history: list[dict[str, Any]] = []
    step, done_padded, seconds = 0, 0, 0.0
    warm_up = (0, 0.0)  # the first step's tokens and seconds, left out of the pace
    with (
        logging_redirect_tqdm(),  # log lines above the bar, not glued to it
        tqdm(total=total_padded, desc=label, unit="tok", unit_scale=True) as progress,
    ):
        for epoch, batches in enumerate(epoch_batches, 1):
            model.train()
            for batch in batches:
                began = time.perf_counter()
                with autocast(precision):
                    loss = model(**batch).loss
                loss.backward()
                if optimisation.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(parameters, optimisation.max_grad_norm)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                took = time.perf_counter() - began
                padded = counts[step][1]
                step, done_padded, seconds = step + 1, done_padded + padded, seconds + took
                if step == 1:
                    warm_up = (padded, took)
                elif step == min(steps, CALIBRATION_STEPS + 1):
                    pace = Pace(done_padded - warm_up[0], seconds - warm_up[1])
                    left = remaining_seconds(
                        pace, total_padded - done_padded, eval_tokens * evaluations
                    )
                    logger.info(
                        "%s, %s on this machine (%d batches, %d tokens, %s, %.0f tokens/s)",
                        label, about(left + seconds), steps, total_padded, precision.value,
                        pace.tokens_per_second,
                    )
                progress.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}", refresh=False)
                progress.update(padded)
            if evaluate_every_epoch or epoch == len(epoch_batches):
                scores = evaluate()
                history.append({"epoch": epoch, **scores})
                logger.info("epoch %d: held-out %s", epoch, scores)
    run = TrainingRun(
        precision=precision.value, steps=step, tokens=sum(real for real, _ in counts),
        padded_tokens=total_padded, seconds=seconds,
    )
    logger.info("%s: trained in %.0f s, %.0f tokens/s (%s)", label, run.seconds,
                run.tokens_per_second, precision.value)
    return history, run
