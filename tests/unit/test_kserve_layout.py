"""Issue 13, part 2: KServe's storage layout written from archives (hand-made .mar files:
a manifest and a model-config.yaml are all the layout reads)."""

import json
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from torchserve_nlp.deploy import cli, container
from torchserve_nlp.deploy.layout import (
    LayoutError,
    ModelEntry,
    ServerSettings,
    Setting,
    apply_overrides,
    parse_overrides,
    read_archive,
    write_layout,
)
from torchserve_nlp.serving.torchserve import read_properties

BATCHED = "minWorkers: 1\nmaxWorkers: 3\nbatchSize: 8\nmaxBatchDelay: 50\nresponseTimeout: 60\n"


def fake_mar(path: Path, name: str, version: str = "1.0", model_config: str | None = BATCHED):
    model = {"modelName": name, "modelVersion": version, "handler": "h.py"}
    with zipfile.ZipFile(path, "w") as mar:
        if model_config is not None:
            model["configFile"] = "model-config.yaml"
            mar.writestr("model-config.yaml", model_config)
        mar.writestr("MAR-INF/MANIFEST.json", json.dumps({"model": model}))
    return path


def snapshot_of(config: Path) -> dict:
    return json.loads(read_properties(config)["model_snapshot"])


def test_an_archive_brings_its_name_version_and_batching(tmp_path):
    entry = read_archive(fake_mar(tmp_path / "a.mar", "sentiment", version="2.1"))
    assert entry == ModelEntry(
        name="sentiment", archive=tmp_path / "a.mar", version="2.1", min_workers=1,
        max_workers=3, batch_size=8, max_batch_delay=50, response_timeout=60,
    )


def test_an_archive_without_model_config_gets_torchserve_defaults(tmp_path):
    entry = read_archive(fake_mar(tmp_path / "a.mar", "plain", model_config=None))
    assert (entry.min_workers, entry.max_workers, entry.batch_size) == (1, 1, 1)
    assert (entry.max_batch_delay, entry.response_timeout) == (100, 120)


def test_something_else_than_an_archive_is_refused(tmp_path):
    (tmp_path / "x.mar").write_text("not a zip")
    with pytest.raises(LayoutError, match="not a readable TorchServe archive"):
        read_archive(tmp_path / "x.mar")


def test_workers_sets_both_bounds_and_the_rest_is_kept(tmp_path):
    entry = read_archive(fake_mar(tmp_path / "a.mar", "m"))
    changed = apply_overrides(entry, parse_overrides("workers=2, batch_size=4"))
    assert (changed.min_workers, changed.max_workers, changed.batch_size) == (2, 2, 4)
    assert (changed.max_batch_delay, changed.response_timeout) == (50, 60)


@pytest.mark.parametrize(("spec", "message"), [
    ("threads=2", "unknown setting 'threads'"),
    ("batch_size=four", "give a whole number"),
    ("batch_size", "give a whole number"),
])
def test_bad_settings_are_named(spec, message):
    with pytest.raises(LayoutError, match=message):
        parse_overrides(spec)


@pytest.mark.parametrize(("overrides", "message"), [
    ({Setting.MIN_WORKERS: 4}, "min_workers 4 > max_workers 3"),
    ({Setting.BATCH_SIZE: 0}, "batch_size must be positive"),
])
def test_impossible_values_are_refused(tmp_path, overrides, message):
    with pytest.raises(LayoutError, match=message):
        apply_overrides(read_archive(fake_mar(tmp_path / "a.mar", "m")), overrides)


def test_the_layout_is_kserves_with_one_snapshot_entry_per_archive(tmp_path):
    first = read_archive(fake_mar(tmp_path / "first_file.mar", "first"))
    second = apply_overrides(read_archive(fake_mar(tmp_path / "b.mar", "second", "3")),
                             {Setting.WORKERS: 2})
    layout = write_layout(tmp_path / "out", [first, second])

    assert layout.config == tmp_path / "out" / "config" / "config.properties"
    assert sorted(p.name for p in (tmp_path / "out" / "model-store").iterdir()) == [
        "first.mar", "second.mar"]
    assert (tmp_path / "out" / "model-store" / "first.mar").read_bytes() == (
        tmp_path / "first_file.mar").read_bytes()
    assert snapshot_of(layout.config) == {
        "name": "startup.cfg", "modelCount": 2, "models": {
            "first": {"1.0": {"defaultVersion": True, "marName": "first.mar", "minWorkers": 1,
                              "maxWorkers": 3, "batchSize": 8, "maxBatchDelay": 50,
                              "responseTimeout": 60}},
            "second": {"3": {"defaultVersion": True, "marName": "second.mar", "minWorkers": 2,
                             "maxWorkers": 2, "batchSize": 8, "maxBatchDelay": 50,
                             "responseTimeout": 60}},
        }}


def test_the_config_serves_kserve_protocols_on_the_container_port_without_tokens(tmp_path):
    entry = read_archive(fake_mar(tmp_path / "a.mar", "m"))
    config = read_properties(write_layout(tmp_path / "out", [entry]).config)
    assert config["inference_address"] == "http://0.0.0.0:8080"
    assert config["management_address"] == "http://127.0.0.1:8081"
    assert config["metrics_address"] == "http://0.0.0.0:8082"
    assert config["grpc_inference_address"] == config["grpc_management_address"] == "127.0.0.1"
    assert config["model_store"] == "/mnt/models/model-store"
    assert config["ts_open_inference_protocol"] == "true"
    assert config["disable_token_authorization"] == "true"
    assert config["enable_model_api"] == "false"
    assert config["install_py_dep_per_model"] == "false"
    assert config["vmargs"] == "-XX:TieredStopAtLevel=1"
    assert "load_models" not in config  # the snapshot registers the models
    assert "metrics_config" not in config
    # What the container's command and probes are built from.
    assert config["model_store"] == str(container.store_path())
    assert config["management_address"] == container.management_url()


def test_another_mount_and_a_metrics_config_move_every_path(tmp_path):
    metrics = tmp_path / "metrics.yaml"
    metrics.write_text("dimensions: []\n")
    entry = read_archive(fake_mar(tmp_path / "a.mar", "m"))
    layout = write_layout(tmp_path / "out", [entry], ServerSettings(mount=PurePosixPath("/x")),
                          metrics_config=metrics)
    config = read_properties(layout.config)
    assert config["model_store"] == "/x/model-store"
    assert config["metrics_config"] == "/x/config/metrics.yaml"
    assert (tmp_path / "out" / "config" / "metrics.yaml").read_text() == "dimensions: []\n"


def test_a_used_folder_and_two_archives_of_one_name_are_refused(tmp_path):
    entry = read_archive(fake_mar(tmp_path / "a.mar", "m"))
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "old.mar").write_text("")
    with pytest.raises(LayoutError, match="is not empty"):
        write_layout(tmp_path / "used", [entry])
    twin = read_archive(fake_mar(tmp_path / "b.mar", "m"))
    with pytest.raises(LayoutError, match="both named 'm'"):
        write_layout(tmp_path / "new", [entry, twin])
    assert not (tmp_path / "new").exists()


def test_the_command_applies_options_then_per_archive_settings(tmp_path):
    a = fake_mar(tmp_path / "a.mar", "a")
    b = fake_mar(tmp_path / "b.mar", "b")
    cli.main([str(tmp_path / "out"), str(a), f"{b}:batch_size=2,max_batch_delay=5",
              "--batch-size", "16", "--workers", "2", "--job-queue-size", "7"])
    config = tmp_path / "out" / "config" / "config.properties"
    models = snapshot_of(config)["models"]
    assert models["a"]["1.0"]["batchSize"] == 16
    assert (models["b"]["1.0"]["batchSize"], models["b"]["1.0"]["maxBatchDelay"]) == (2, 5)
    assert models["a"]["1.0"]["minWorkers"] == models["b"]["1.0"]["maxWorkers"] == 2
    assert read_properties(config)["job_queue_size"] == "7"


def test_the_command_exits_2_naming_a_bad_setting(tmp_path, caplog):
    a = fake_mar(tmp_path / "a.mar", "a")
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(tmp_path / "out"), f"{a}:threads=2"])
    assert exit_info.value.code == 2
    assert "unknown setting 'threads'" in caplog.text
    assert not (tmp_path / "out").exists()
