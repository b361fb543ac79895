"""The base handler isolates requests by construction: whatever one request makes the batched
steps raise, every other request of the batch gets its own answer."""

import logging
from pathlib import Path
from typing import Any

import pytest

from nlp_runtime.base import MAX_PHRASE, status_phrase
from tests.poisonable_handler import DECODER_BUG, ENCODER_BUG, Poisonable
from tests.worker_context import WorkerContext


def serve(texts: list[str]) -> tuple[Poisonable, list[Any], dict[int, int]]:
    handler = Poisonable()
    context = WorkerContext(Path("."))
    handler.initialize(context)
    results = handler.handle([{"body": text} for text in texts], context)
    return handler, results, context.statuses


def test_a_poisoned_item_fails_alone_and_the_log_names_it(caplog):
    texts = ["one", "poison pill", "three", "four"]
    with caplog.at_level(logging.INFO):
        handler, results, statuses = serve(texts)
    assert statuses == {1: 500}
    assert results[1]["code"] == 500 and results[1]["type"] == "InternalServerError"
    assert "FloatingPointError: kernel failed on a batch of 1" in results[1]["message"]
    for i in (0, 2, 3):
        assert results[i] == {"text": texts[i], "length": len(texts[i])}
    assert handler.forwards == 1 + len(texts)  # the batch, then each request alone
    assert "request 1 failed in the model code" in caplog.text


def test_a_healthy_batch_runs_one_forward():
    handler, results, statuses = serve(["a", "bb"])
    assert statuses == {} and [r["length"] for r in results] == [1, 2]
    assert handler.forwards == 1


@pytest.mark.parametrize("position", [0, 2])
def test_any_decoding_exception_is_that_requests_400(position):
    texts = ["alpha", "beta"]
    texts.insert(position, DECODER_BUG)
    _, results, statuses = serve(texts)
    assert statuses == {position: 400}
    assert "request could not be decoded: KeyError: 'a decoder bug'" in results[position]["message"]
    assert [r["length"] for i, r in enumerate(results) if i != position] == [5, 4]


def test_an_encoding_exception_is_that_requests_500():
    _, results, statuses = serve(["alpha", ENCODER_BUG, "beta"])
    assert statuses == {1: 500}
    assert "OverflowError: an encoder bug" in results[1]["message"]
    assert [results[0]["length"], results[2]["length"]] == [5, 4]


def test_the_status_phrase_is_ascii_one_line_and_short():
    phrase = status_phrase("unknown key 'clé'\r\nnext " + "x" * 1000)
    assert phrase.isascii() and "\r" not in phrase and "\n" not in phrase
    assert phrase.startswith("unknown key 'cl\\xe9' next x")
    assert len(phrase) == MAX_PHRASE and phrase.endswith("...")
