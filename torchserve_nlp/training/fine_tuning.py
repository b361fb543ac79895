"""The fine-tuning loop the QA and NER trainers share: AdamW (weight decay 0.01), linear warm-up
then decay, gradient clipping at 1.0, a held-out evaluation after every epoch."""

import logging
from collections.abc import Callable, Iterable
from typing import Any

import torch
from tqdm import tqdm
from transformers import get_linear_schedule_with_warmup

logger = logging.getLogger(__name__)


def fine_tune(
    model: torch.nn.Module,
    epochs: int,
    batches_per_epoch: int,
    epoch_batches: Callable[[], Iterable[dict[str, torch.Tensor]]],
    evaluate: Callable[[], dict[str, Any]],
    learning_rate: float,
    warmup_fraction: float,
    description: str = "fine-tuning",
) -> list[dict[str, Any]]:
    """Train ``model`` on ``epoch_batches()`` (keyword arguments of a forward that returns a
    loss), once per epoch; the history of ``evaluate()`` results, one per epoch."""
    steps = epochs * batches_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(warmup_fraction * steps), steps)
    history = []
    with tqdm(total=steps, desc=description, unit="batch") as progress:
        for epoch in range(epochs):
            model.train()
            for batch in epoch_batches():
                loss = model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                progress.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
                progress.update()
            scores = evaluate()
            history.append({"epoch": epoch + 1, **scores})
            logger.info("epoch %d: held-out %s", epoch + 1, scores)
    return history
