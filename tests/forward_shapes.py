"""What a Transformer handler feeds its model, seen from outside the handler: its loaded
model (transformer_model.LoadedModel) is swapped for one whose forward records the shape of
``input_ids`` before calling the real one."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from torchserve_nlp.serving.local_archive import LocalArchive


@contextmanager
def forward_shapes(archive: LocalArchive) -> Iterator[list[tuple[int, ...]]]:
    """The ``(windows or texts, tokens)`` of every forward the archive's handler runs in
    the block, in order."""
    handler = archive.handler
    loaded, shapes = handler.model, []

    def forward(features):
        shapes.append(tuple(features["input_ids"].shape))
        return loaded.forward(features)

    handler.model = replace(loaded, forward=forward)
    try:
        yield shapes
    finally:
        handler.model = loaded


def assert_grouped_by_length(forwards: list[tuple[int, ...]], lengths: list[int]) -> None:
    """``forwards`` (in call order) cover rows of these token ``lengths`` once each, as
    consecutive runs of the rows sorted by length, each padded to its own longest."""
    ordered = sorted(lengths)
    assert sum(rows for rows, _ in forwards) == len(ordered), (forwards, ordered)
    start = 0
    for rows, width in forwards:
        assert width == ordered[start + rows - 1], (forwards, ordered)
        start += rows
