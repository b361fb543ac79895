"""Parsing the Transformer handlers' setup_config.json / model-config.yaml handler keys."""

import json
from dataclasses import FrozenInstanceError, fields

import pytest

from nlp_runtime.hf.config import (
    _PARSERS,
    AggregationStrategy,
    Mode,
    SaveMode,
    TransformerHandlerConfig,
    load_handler_config,
    parse_handler_config,
)

SEED = {
    "model_name": "bert-base-uncased",
    "mode": "token_classification",
    "do_lower_case": True,
    "num_labels": "9",
    "save_mode": "pretrained",
    "max_length": "150",
}


def test_seed_setup_config_parses_with_defaults_for_the_rest():
    config = parse_handler_config(SEED)
    assert config == TransformerHandlerConfig(
        model_name="bert-base-uncased", mode=Mode.TOKEN_CLASSIFICATION, do_lower_case=True,
        num_labels=9, save_mode=SaveMode.PRETRAINED, max_length=150,
    )
    assert config.aggregation_strategy is AggregationStrategy.SIMPLE
    assert config.ignore_labels == ("O",)
    with pytest.raises(FrozenInstanceError):
        config.max_length = 3  # type: ignore[misc]


def test_every_field_is_a_key():
    full = {
        **SEED, "doc_stride": 16, "aggregation_strategy": "MAX", "ignore_labels": ["O", "MISC"],
        "max_windows": 4, "do_lower_case": "false", "save_mode": "torchscript",
        "top_k": 3, "max_answer_len": "30", "handle_impossible_answer": "true",
        "intra_op_threads": 2, "max_tokens_per_forward": 4096, "forward_overhead_tokens": "0",
    }
    config = parse_handler_config(full)
    # workers is model-config.yaml's minWorkers, not a setup_config key
    assert {f.name for f in fields(config)} - {"workers"} == set(_PARSERS) >= set(full)
    assert (config.top_k, config.max_answer_len, config.handle_impossible_answer) == (3, 30, True)
    assert config.aggregation_strategy is AggregationStrategy.MAX
    assert config.save_mode is SaveMode.TORCHSCRIPT
    assert config.do_lower_case is False
    assert config.ignore_labels == ("O", "MISC")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"captum_explanation": True}, "captum_explanation"),
        ({"mode": "summarization"}, "mode"),
        ({"save_mode": "tensorrt"}, "save_mode"),
        ({"intra_op_threads": 0}, "intra_op_threads"),
        ({"aggregation_strategy": "longest"}, "aggregation_strategy"),
        ({"max_length": "long"}, "max_length"),
        ({"max_length": 4}, "max_length"),
        ({"num_labels": True}, "num_labels"),
        ({"num_labels": 0}, "num_labels"),
        ({"do_lower_case": "yes"}, "do_lower_case"),
        ({"ignore_labels": "O"}, "ignore_labels"),
        ({"doc_stride": -1}, "doc_stride"),
        ({"doc_stride": 150}, "doc_stride"),
        ({"model_name": ""}, "model_name"),
    ],
)
def test_invalid_key_or_value_names_the_key(change, named):
    with pytest.raises(ValueError, match=named):
        parse_handler_config({**SEED, **change})


def test_required_keys():
    with pytest.raises(ValueError, match="'mode'"):
        parse_handler_config({"model_name": "x"})


def test_yaml_handler_section_alone_or_agreeing_with_setup_config(tmp_path):
    yaml_config = {"minWorkers": 1, "handler": {**SEED, "doc_stride": 8}}
    from_yaml = load_handler_config(tmp_path, yaml_config)
    assert from_yaml.doc_stride == 8
    (tmp_path / "setup_config.json").write_text(json.dumps(SEED))
    assert load_handler_config(tmp_path, None) == parse_handler_config(SEED)
    assert load_handler_config(tmp_path, yaml_config) == from_yaml


def test_sources_that_disagree_or_are_missing_fail(tmp_path):
    with pytest.raises(ValueError, match="no handler configuration"):
        load_handler_config(tmp_path, {"batchSize": 4})
    (tmp_path / "setup_config.json").write_text(json.dumps(SEED))
    with pytest.raises(ValueError, match="max_length"):
        load_handler_config(tmp_path, {"handler": {"max_length": 64}})
    (tmp_path / "setup_config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="setup_config.json"):
        load_handler_config(tmp_path, None)


def test_configuration_for_another_task_is_refused(tmp_path):
    (tmp_path / "setup_config.json").write_text(json.dumps(SEED))
    assert SEED["mode"] == "token_classification"
    with pytest.raises(ValueError, match="'mode' is 'token_classification'; this handler serves q"):
        load_handler_config(tmp_path, None, Mode.QUESTION_ANSWERING)
    config = load_handler_config(tmp_path, None, Mode.TOKEN_CLASSIFICATION)
    assert config.mode is Mode.TOKEN_CLASSIFICATION


@pytest.mark.parametrize(
    ("value", "mode", "eager"),
    [("pretrained", SaveMode.PRETRAINED, True), ("bf16", SaveMode.BF16, True),
     ("torchscript", SaveMode.TORCHSCRIPT, False), ("ONNX", SaveMode.ONNX, False),
     ("onnx_int8", SaveMode.ONNX_INT8, False)],
)
def test_every_save_mode_parses_and_says_whether_it_is_eager(value, mode, eager):
    config = parse_handler_config({**SEED, "save_mode": value})
    assert config.save_mode is mode and mode.eager is eager
    assert mode.onnx is (mode in (SaveMode.ONNX, SaveMode.ONNX_INT8))


def test_workers_come_from_model_config_yaml(tmp_path):
    (tmp_path / "setup_config.json").write_text(json.dumps(SEED))
    assert load_handler_config(tmp_path, None).workers == 1
    assert load_handler_config(tmp_path, {"minWorkers": 3}).workers == 3
    yaml_config = {"minWorkers": 2, "handler": {"intra_op_threads": 5}}
    config = load_handler_config(tmp_path, yaml_config)
    assert (config.workers, config.intra_op_threads) == (2, 5)
