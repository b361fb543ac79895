"""scripts/bench.py's command line: what is sent depends on --json-lines."""

from scripts.bench import JSON_CONTENT_TYPE, batches, parse_args
from torchserve_nlp.bench.http_load import TEXT_CONTENT_TYPE

BASE = ["--model", "m", "--texts", "t.txt", "--server-only"]


def test_lines_are_sent_as_text_by_default_and_as_json_with_json_lines():
    assert parse_args(BASE).content_type == TEXT_CONTENT_TYPE
    assert parse_args([*BASE, "--json-lines"]).content_type == JSON_CONTENT_TYPE


def test_in_process_batches_carry_the_content_type():
    lines = ['{"question": "q", "context": "c"}'] * 3
    (first, second) = batches(lines, 2, JSON_CONTENT_TYPE)
    assert [len(first), len(second)] == [2, 1]
    assert {request.content_type for request in first + second} == {JSON_CONTENT_TYPE}
