"""Length-bucketed training batches: batches of similar lengths, so that they pad little.

Tweets are ~33 tokens on average but a few reach 128, and a batch pads to its longest member:
shuffled batches of 32 carry roughly as much padding as text. Here each epoch shuffles the
examples (seeded), cuts them into pools of ``pool_batches`` batches, sorts each pool by length,
cuts it into batches and shuffles the order of the batches. A batch is then a random draw of
similar lengths, and the epoch order stays random. Pure functions over lengths; the trainers
collate the tensors.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PaddingStats:
    """Tokens an epoch's batches carry: real ones and, after padding, all of them."""

    tokens: int
    padded_tokens: int

    @property
    def padding_fraction(self) -> float:
        return 1 - self.tokens / self.padded_tokens if self.padded_tokens else 0.0


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, seed: int, pool_batches: int = 50
) -> list[list[int]]:
    """Index batches of ``lengths`` (each index once, at most ``batch_size`` per batch) drawn
    by length within random pools of ``pool_batches`` batches, in a random order."""
    if batch_size < 1 or pool_batches < 1:
        raise ValueError(f"batch_size and pool_batches must be ≥ 1, got {batch_size}, "
                         f"{pool_batches}")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * pool_batches
    batches: list[list[int]] = []
    for begin in range(0, len(order), pool):
        # sorted() is stable: equal lengths keep their shuffled order
        chunk = sorted(order[begin : begin + pool], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def shuffled_batches(count: int, batch_size: int, seed: int) -> list[list[int]]:
    """Plain shuffled batches (no bucketing), for comparison."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, count, batch_size)]


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches in length order: for evaluation, where order does not matter."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def padding_stats(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> PaddingStats:
    """Real and padded token counts of ``batches`` (each padded to its longest member)."""
    tokens = sum(lengths[i] for batch in batches for i in batch)
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches if batch)
    return PaddingStats(tokens, padded)


def epoch_seed(seed: int, epoch: int) -> int:
    """A different, reproducible shuffle for every epoch of one run."""
    return seed * 1_000_003 + epoch
