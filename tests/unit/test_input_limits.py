"""Input limits (nlp_runtime.limits): checked on raw bodies without parsing them, and on JSON
TorchServe already parsed; configured in the archive's model-config.yaml."""

from pathlib import Path

import pytest

from nlp_runtime.errors import RequestError
from nlp_runtime.limits import InputLimits
from tests.poisonable_handler import Poisonable
from tests.worker_context import WorkerContext

LIMITS = InputLimits(max_json_depth=3, max_text_chars=10)


def status(value) -> int:
    try:
        LIMITS.check(value)
    except RequestError as error:
        return error.status
    return 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0123456789", 200),
        ("0123456789X", 413),
        (b"0123456789X", 413),
        ('{"a": [[1]]}', 200),
        ('{"a": [[[1]]]}', 413),
        (bytearray(b'{"a": [[[1]]]}'), 413),
        ('{"a": "[[[[[[[[["}', 200),  # brackets inside a string are text
        ('{"a": "\\"[[[[[[["}', 200),  # ... even after an escaped quote
        ('{"a": "0123456789X"}', 413),  # one JSON string over the limit
        ('["0123456789", "0123456789"]', 200),  # many strings, each within it
        ("[not json but long enough", 413),  # unbalanced: measured whole, as text
        ({"a": [[1]]}, 200),
        ({"a": [[[1]]]}, 413),
        ({"a": ["0123456789X"]}, 413),
        ({"0123456789X": 1}, 413),  # keys are text too
        ([1, 2, 3], 200),
    ],
)
def test_check(value, expected):
    assert status(value) == expected


def test_a_bomb_is_refused_without_recursing():
    with pytest.raises(RequestError) as raised:
        InputLimits().check(b"[" * 1_000_000 + b"]" * 1_000_000)
    assert raised.value.status == 413
    assert "limit of 32 levels" in raised.value.message
    assert "raise max_json_depth in the archive's model-config.yaml" in raised.value.message


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"max_text_chars": 0}, "must be a positive integer"),
        ({"max_json_depth": "5"}, "must be a positive integer"),
        ({"max_body": 5}, "unknown limit 'max_body'"),
        ([1], "must be a mapping"),
    ],
)
def test_bad_configuration_fails_at_load(section, message):
    with pytest.raises(ValueError, match=message):
        InputLimits.from_model_config({"handler": {"limits": section}})


def test_defaults_and_yaml_override():
    assert InputLimits.from_model_config(None) == InputLimits(32, 100_000)
    configured = {"handler": {"limits": {"max_text_chars": 5}}}
    assert InputLimits.from_model_config(configured) == InputLimits(32, 5)


def test_a_handler_applies_its_archives_limits_per_request():
    handler = Poisonable()
    config = {"handler": {"limits": {"max_text_chars": 5}}}
    handler.initialize(WorkerContext(Path("."), yaml_config=config))
    context = WorkerContext(Path("."), yaml_config=config)
    results = handler.handle(
        [{"body": "short"}, {"body": "too long"}, {"body": {"data": "tiny"}}],
        context,
    )
    assert context.statuses == {1: 413}
    assert "over this archive's limit of 5" in results[1]["message"]
    assert [results[0]["length"], results[2]["length"]] == [5, 4]
