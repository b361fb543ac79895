"""Length-bucketed batches, training precision and the time estimate: pure functions on
hand-made data."""

import math
import random

import pytest
import torch

from torchserve_nlp.training.batching import (
    bucketed_batches,
    epoch_seed,
    padding_stats,
    shuffled_batches,
    sorted_batches,
)
from torchserve_nlp.training.estimate import (
    TrainingWork,
    bucketed_tokens,
    parallel_seconds,
    total_seconds,
)
from torchserve_nlp.training.pace import Pace, about, remaining_seconds, step_label
from torchserve_nlp.training.precision import Precision, autocast, choose_precision

# Tweet-like lengths: mostly 20-45 tokens, a long tail to 128.
_RNG = random.Random(5)
LENGTHS = [_RNG.choice([20, 25, 30, 33, 36, 40, 45, 60, 90, 128]) for _ in range(997)]


def test_bucketed_batches_use_every_index_once_in_batches_of_at_most_the_size():
    batches = bucketed_batches(LENGTHS, 32, seed=1, pool_batches=4)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(LENGTHS)))
    assert all(1 <= len(batch) <= 32 for batch in batches)
    assert len(batches) == sum(math.ceil(len(range(b, min(b + 128, 997))) / 32)
                               for b in range(0, 997, 128))


def test_bucketed_batches_pad_far_less_than_shuffled_ones():
    bucketed = padding_stats(LENGTHS, bucketed_batches(LENGTHS, 32, seed=1))
    shuffled = padding_stats(LENGTHS, shuffled_batches(len(LENGTHS), 32, seed=1))
    assert bucketed.tokens == shuffled.tokens == sum(LENGTHS)
    assert shuffled.padding_fraction > 0.4
    assert bucketed.padding_fraction < 0.05


def test_bucketed_batches_are_seeded_and_shuffled():
    assert bucketed_batches(LENGTHS, 16, seed=3) == bucketed_batches(LENGTHS, 16, seed=3)
    assert bucketed_batches(LENGTHS, 16, seed=3) != bucketed_batches(LENGTHS, 16, seed=4)
    # the epoch does not run from short to long batches
    widths = [max(LENGTHS[i] for i in batch) for batch in bucketed_batches(LENGTHS, 16, seed=3)]
    assert widths != sorted(widths) and widths != sorted(widths, reverse=True)


def test_every_epoch_of_a_run_gets_its_own_order():
    seeds = {epoch_seed(13, epoch) for epoch in range(5)}
    assert len(seeds) == 5 and epoch_seed(13, 0) != epoch_seed(14, 0)


def test_a_pool_of_one_batch_keeps_the_shuffle_and_only_sorts_within_batches():
    batches = bucketed_batches(LENGTHS, 8, seed=2, pool_batches=1)
    assert sorted(map(sorted, batches)) == sorted(map(sorted, shuffled_batches(997, 8, seed=2)))


@pytest.mark.parametrize("size, pool", [(0, 5), (4, 0)])
def test_bucketed_batches_refuse_empty_batches_or_pools(size, pool):
    with pytest.raises(ValueError, match="≥ 1"):
        bucketed_batches(LENGTHS, size, seed=1, pool_batches=pool)


def test_sorted_batches_run_from_short_to_long():
    batches = sorted_batches([5, 1, 4, 2, 3], 2)
    assert batches == [[1, 3], [4, 2], [0]]


def test_padding_stats_count_each_batch_padded_to_its_longest():
    stats = padding_stats([3, 5, 2, 2], [[0, 1], [2, 3]])
    assert (stats.tokens, stats.padded_tokens) == (12, 14)
    assert stats.padding_fraction == pytest.approx(2 / 14)


@pytest.mark.parametrize(
    "requested, native, chosen",
    [("auto", True, Precision.BF16), ("auto", False, Precision.FP32),
     ("fp32", True, Precision.FP32), ("bf16", False, Precision.BF16)],
)
def test_precision_is_bf16_only_where_native_unless_asked(requested, native, chosen):
    assert choose_precision(requested, native) is chosen


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="auto"):
        choose_precision("fp16", True)


def test_autocast_computes_matrix_products_in_the_chosen_precision():
    a = torch.ones(2, 3)
    with autocast(Precision.BF16):
        assert (a @ a.T).dtype == torch.bfloat16
    with autocast(Precision.FP32):
        assert (a @ a.T).dtype == torch.float32


def test_remaining_time_is_tokens_left_at_the_measured_pace():
    pace = Pace(tokens=3000, seconds=2.0)
    assert pace.tokens_per_second == 1500
    assert remaining_seconds(pace, 15_000) == pytest.approx(10.0)
    assert remaining_seconds(pace, 15_000, eval_tokens=4500) == pytest.approx(11.0)
    assert remaining_seconds(Pace(0, 0.0), 100) == math.inf


@pytest.mark.parametrize(
    "seconds, text",
    [(4, "about 10 s"), (44, "about 40 s"), (200, "about 3 min"), (3900, "about 65 min"),
     (6000, "about 1 h 40 min"), (math.inf, "unknown time")],
)
def test_estimates_read_like_a_person_would_say_them(seconds, text):
    assert about(seconds) == text


def test_step_labels_say_where_a_run_stands_in_the_build():
    assert step_label("2/3", "the NER model") == "[2/3] training the NER model"
    assert step_label(None, "the NER model") == "training the NER model"


def test_the_up_front_estimate_counts_the_padded_tokens_of_every_epoch():
    one = padding_stats(LENGTHS, bucketed_batches(LENGTHS, 16, epoch_seed(7, 0), 50))
    assert bucketed_tokens(LENGTHS, 16, seed=7, epochs=1, pool_batches=50) == one.padded_tokens
    three = bucketed_tokens(LENGTHS, 16, seed=7, epochs=3, pool_batches=50)
    assert sum(LENGTHS) * 3 <= three < sum(LENGTHS) * 3 * 1.05


def test_the_up_front_estimate_adds_every_run_at_the_measured_pace():
    works = [TrainingWork("a", 30_000, 0), TrainingWork("b", 6_000, 9_000)]
    assert total_seconds(works, Pace(tokens=3000, seconds=1.0)) == pytest.approx(10 + 2 + 1)


def test_parallel_runs_take_the_longest_lane_longest_run_first():
    assert parallel_seconds([300, 100, 250], jobs=1) == 650
    assert parallel_seconds([300, 100, 250], jobs=2) == 350  # 300 | 250 + 100
    assert parallel_seconds([300, 100, 250], jobs=5) == 300
    assert parallel_seconds([], jobs=2) == 0
