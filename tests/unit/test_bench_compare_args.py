"""scripts/bench.py --compare's command line: archives, the max_length row, clear refusals,
and what a --config file may change of the private server's settings."""

import argparse
from pathlib import Path

import pytest

from torchserve_nlp.bench.compare import MAX_LENGTH, SERVED, CompareConfig, Contender
from torchserve_nlp.bench.compare_command import parse_archive, parse_args
from torchserve_nlp.bench.compare_server import SERVING_SETTINGS, server_settings
from torchserve_nlp.bench.http_load import TEXT_CONTENT_TYPE
from torchserve_nlp.bench.phases import JSON_CONTENT_TYPE
from torchserve_nlp.serving.torchserve import read_properties, write_config


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / name for name in ("fp32.mar", "int8.mar", "texts.txt")}
    for path in paths.values():
        path.write_text("I love it\n\nmeh\n")
    return paths


def test_an_archive_is_name_equals_path_or_a_path_named_after_its_file():
    assert parse_archive("fast=store/x.mar") == Contender("fast", Path("store/x.mar"))
    named_after_file = Contender("BERT_onnx", Path("store/BERT_onnx.mar"))
    assert parse_archive("store/BERT_onnx.mar") == named_after_file
    with pytest.raises(argparse.ArgumentTypeError, match="NAME=ARCHIVE"):
        parse_archive("fast=")


def test_the_max_length_row_is_the_first_archive_in_process_only(files):
    config, _ = parse_args([
        "--compare", f"fp32={files['fp32.mar']}", f"int8={files['int8.mar']}",
        "--texts", str(files["texts.txt"]), "--max-length-baseline", "--rounds", "2",
    ])
    assert [(c.name, c.way) for c in config.contenders] == [
        ("fp32", SERVED), ("int8", SERVED), ("fp32_max_length", MAX_LENGTH),
    ]
    assert config.contenders[2].archive == files["fp32.mar"]
    assert config.served_archives == {"fp32": files["fp32.mar"], "int8": files["int8.mar"]}
    assert config.texts == ("I love it", "meh")
    assert (config.rounds, config.concurrency, config.content_type) == (2, 16, TEXT_CONTENT_TYPE)


def test_json_lines_are_sent_as_json(files):
    config, _ = parse_args(["--compare", str(files["fp32.mar"]), "--texts",
                            str(files["texts.txt"]), "--json-lines"])
    assert config.content_type == JSON_CONTENT_TYPE


@pytest.mark.parametrize("extra, message", [
    (["--compare", "a=missing.mar"], "no such file: missing.mar"),
    (["--compare", "{fp32}", "{fp32}"], "archive names must differ"),
    (["--compare", "{fp32}", "--rounds", "0"], "must be >= 1"),
    (["--compare", "{fp32}", "--server-warmup", "-1"], "server_warmup must be >= 0"),
    (["--compare", "{fp32}", "--url", "127.0.0.1:8080"], "--url must start with http"),
])
def test_bad_arguments_are_refused_naming_the_problem(files, capsys, extra, message):
    argv = [arg.format(fp32=files["fp32.mar"]) for arg in extra]
    with pytest.raises(SystemExit):
        parse_args([*argv, "--texts", str(files["texts.txt"])])
    assert message in capsys.readouterr().err


def test_the_baseline_must_be_served():
    with pytest.raises(ValueError, match="baseline"):
        CompareConfig((Contender("a", Path("a.mar"), MAX_LENGTH),), ("text",))


def test_a_config_file_may_change_the_private_servers_defaults_but_not_its_listeners(
    tmp_path,
):
    base = tmp_path / "base.properties"
    base.write_text("# mine\nvmargs=-XX:+UseSerialGC\ninference_address=http://0.0.0.0:80\n",
                    encoding="utf-8")
    private = {"inference_address": "http://127.0.0.1:5000", "model_store": "/store"}
    settings = server_settings(base, private)
    assert "vmargs" not in settings and settings["inference_address"] == "http://127.0.0.1:5000"
    assert settings["enable_model_api"] == SERVING_SETTINGS["enable_model_api"]
    written = read_properties(write_config(tmp_path / "config.properties", settings, base=base))
    assert written["vmargs"] == "-XX:+UseSerialGC"
    assert written["inference_address"] == "http://127.0.0.1:5000"
    assert server_settings(None, private)["vmargs"] == SERVING_SETTINGS["vmargs"]
