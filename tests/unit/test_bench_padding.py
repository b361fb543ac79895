"""scripts/bench_padding.py on a quick-trained sequence classifier: both paddings give the same
outputs, and the handler's way really pads less."""

from scripts.archive_sequence_classifier import archive
from scripts.bench_padding import bench

TEXTS = ["short", "a somewhat longer text about the weather today", "ok then", "fine " * 40]


def test_padding_to_longest_gives_the_same_outputs_on_narrower_batches(
    quick_sentiment_dir, tmp_path
):
    mar = archive(quick_sentiment_dir, tmp_path / "store")
    figures = bench(mar, TEXTS, batch_size=2, rounds=1, overhead=0)
    assert figures["texts"] == len(TEXTS)
    assert figures["max_output_difference"] <= 1e-5
    # Batches (short, longer) and (ok then, 40 words): widths 11 and 43 tokens, not 128; cut
    # into single texts (no overhead), nothing is padded at all.
    assert figures["padded_per_real_token_longest"] < figures["padded_per_real_token_max_length"]
    assert figures["padded_per_real_token_grouped"] == 1.0
    assert figures["forwards_per_batch_grouped"] == 2.0
    for way in ("max_length", "longest", "grouped"):
        assert figures[f"texts_per_s_{way}"] > 0
