"""torchserve_nlp.sagemaker without a server: environment parsing, safe
unpacking, the S3 fetch (moto in-process), the classifier check, the archive and config it
builds, and the command line's failures."""

import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import boto3
import pytest
import torch
import yaml
from moto import mock_aws
from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

from torchserve_nlp.data.offline_assets import minilm_dir
from torchserve_nlp.sagemaker.archive import prepare, ts_config
from torchserve_nlp.sagemaker.cli import parse_args
from torchserve_nlp.sagemaker.model import (
    classifier_labels,
    resolve_local_model,
    resolve_tokenizer,
    stage_pretrained,
)
from torchserve_nlp.sagemaker.s3 import UnsafeArchiveError, fetch_s3_model, model_root, safe_extract
from torchserve_nlp.sagemaker.settings import (
    PORT_VARIABLES,
    BindScope,
    ModelOrigin,
    Ports,
    S3Object,
    ServeConfigError,
    WorkerPolicy,
    parse_env,
)
from torchserve_nlp.sagemaker.supervisor import launch

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVE = REPO_ROOT / "scripts" / "serve"
LABELS = ["negative", "neutral", "positive"]
PACKAGED = "sentence-transformers/all-MiniLM-L6-v2"
UNKNOWN = "no-such-org/no-such-model-7f3a"
S3_ENV = {"BUCKET_NAME": "models-bucket", "MODEL_PATH": "sentiment/model.tar.gz"}


def tiny_config(tokenizer: BertTokenizerFast) -> BertConfig:
    return BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, max_position_embeddings=128,
        id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)},
    )


def save_tiny_classifier(out: Path, seed: int = 0) -> Path:
    """A small seeded BERT sequence classifier on the real uncased vocabulary, saved with
    save_pretrained together with its tokenizer (three labels in config.json's id2label)."""
    torch.manual_seed(seed)
    tokenizer = BertTokenizerFast(vocab=str(minilm_dir() / "vocab.txt"), do_lower_case=True)
    model = BertForSequenceClassification(tiny_config(tokenizer)).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(20.0)  # confident, distinct probabilities
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def tar_gz(directory: Path, target: Path, prefix: str = "") -> Path:
    """``directory``'s files as a gzipped tar, under ``prefix`` (top level if empty)."""
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(directory.iterdir()):
            tar.add(path, arcname=f"{prefix}{path.name}")
    return target


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("tiny_classifier"))


# ------------------------------------------------------------------------ parse_env


def test_local_settings_and_defaults():
    settings = parse_env({"LOCAL": "true", "HUB_MODEL_NAME": " some/dir "})
    assert settings.origin is ModelOrigin.LOCAL
    assert settings.hub_model_name == "some/dir" and settings.s3_object is None
    assert settings.workers is WorkerPolicy.PER_CPU
    assert settings.bind is BindScope.LOOPBACK
    assert settings.ports == Ports(8080, 8081, 8082, 7070, 7071)
    assert settings.tokenizer is None and settings.work_dir is None


def test_s3_settings_and_overrides():
    env = {
        "LOCAL": "False", **S3_ENV, "SERVERLESS": "TRUE", "BIND_ALL": "true",
        "TOKENIZER": PACKAGED, "SAGEMAKER_BIND_TO_PORT": "9080", "SERVE_MANAGEMENT_PORT": "9081",
        "SERVE_WORK_DIR": "/srv/work", "HUB_MODEL_NAME": "  ",  # blank is unset
    }
    settings = parse_env(env)
    assert settings.origin is ModelOrigin.S3
    assert settings.s3_object.uri == "s3://models-bucket/sentiment/model.tar.gz"
    assert settings.workers is WorkerPolicy.SERVERLESS
    assert settings.bind is BindScope.ALL
    assert (settings.ports.inference, settings.ports.management) == (9080, 9081)
    assert settings.tokenizer == PACKAGED and settings.work_dir == Path("/srv/work")
    with pytest.raises(AttributeError):
        settings.bind = BindScope.LOOPBACK  # frozen


def test_lowercase_false_and_unset_local_mean_s3():
    assert parse_env({"LOCAL": "false", **S3_ENV}).origin is ModelOrigin.S3
    assert parse_env(S3_ENV).origin is ModelOrigin.S3


LOCAL = {"LOCAL": "true", "HUB_MODEL_NAME": "some/dir"}
S3 = {"LOCAL": "false", **S3_ENV}
ERRORS = [
    ({}, "BUCKET_NAME"),
    ({"LOCAL": "false", "BUCKET_NAME": "models-bucket"}, "MODEL_PATH"),
    ({"LOCAL": "false", "MODEL_PATH": "model.tar.gz"}, "BUCKET_NAME"),
    ({"LOCAL": "true"}, "HUB_MODEL_NAME"),
    ({**LOCAL, "BUCKET_NAME": "models-bucket"}, "BUCKET_NAME"),
    ({**LOCAL, "MODEL_PATH": "model.tar.gz"}, "MODEL_PATH"),
    ({**S3, "HUB_MODEL_NAME": PACKAGED}, "HUB_MODEL_NAME"),
    ({**LOCAL, "LOCAL": "yes"}, "LOCAL"),
    ({**LOCAL, "LOCAL": "1"}, "LOCAL"),
    ({**LOCAL, "SERVERLESS": "on"}, "SERVERLESS"),
    ({**LOCAL, "BIND_ALL": "0"}, "BIND_ALL"),
    ({**S3, "BUCKET_NAME": "s3://models-bucket"}, "BUCKET_NAME"),
    ({**S3, "BUCKET_NAME": "Models_Bucket"}, "BUCKET_NAME"),
    ({**S3, "MODEL_PATH": "s3://models-bucket/model.tar.gz"}, "MODEL_PATH"),
    ({**S3, "MODEL_PATH": "model.zip"}, "MODEL_PATH"),
    ({**LOCAL, "SAGEMAKER_BIND_TO_PORT": "http"}, "SAGEMAKER_BIND_TO_PORT"),
    ({**LOCAL, "SAGEMAKER_BIND_TO_PORT": "70000"}, "SAGEMAKER_BIND_TO_PORT"),
    ({**LOCAL, "SERVE_METRICS_PORT": "8080"}, "SERVE_METRICS_PORT"),
]


@pytest.mark.parametrize(("env", "variable"), ERRORS)
def test_every_bad_or_contradictory_environment_names_its_variable(env, variable):
    with pytest.raises(ServeConfigError) as caught:
        parse_env(env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def test_worker_count():
    assert WorkerPolicy.SERVERLESS.count(8) == 1
    assert WorkerPolicy.PER_CPU.count(6) == 6
    assert WorkerPolicy.PER_CPU.count(None) == 1


# --------------------------------------------------------------------- model sources


def test_unknown_model_and_tokenizer_name_their_variables(tiny_dir):
    with pytest.raises(ServeConfigError, match="^HUB_MODEL_NAME: .*cannot download"):
        resolve_local_model(UNKNOWN)
    with pytest.raises(ServeConfigError, match="^TOKENIZER: "):
        resolve_tokenizer(UNKNOWN, tiny_dir)
    assert resolve_local_model(str(tiny_dir)) == tiny_dir
    assert resolve_tokenizer(None, tiny_dir) == tiny_dir
    assert resolve_tokenizer(PACKAGED, tiny_dir) == minilm_dir()


def test_base_encoder_is_refused_before_loading_it():
    with pytest.raises(ServeConfigError, match="^HUB_MODEL_NAME: .*randomly initialised"):
        classifier_labels(minilm_dir(), "HUB_MODEL_NAME", PACKAGED)


def test_classifier_config_over_base_encoder_weights_is_refused(tmp_path):
    """config.json claims a classifier, but the weights have no head: caught by loading."""
    tokenizer = BertTokenizerFast(vocab=str(minilm_dir() / "vocab.txt"))
    BertModel(tiny_config(tokenizer)).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["architectures"] = ["BertForSequenceClassification"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ServeConfigError, match="^MODEL_PATH: .*lacks the classification"):
        classifier_labels(tmp_path, "MODEL_PATH", "s3://b/model.tar.gz")


def test_classifier_without_id2label_is_refused(tmp_path, tiny_dir):
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((tiny_dir / name).read_bytes())
    config = json.loads((tmp_path / "config.json").read_text())
    del config["id2label"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ServeConfigError, match="^HUB_MODEL_NAME: .*no id2label"):
        classifier_labels(tmp_path, "HUB_MODEL_NAME", str(tmp_path))


def test_trained_classifier_labels(tiny_dir):
    labels = classifier_labels(tiny_dir, "HUB_MODEL_NAME", str(tiny_dir))
    assert labels == {"0": "negative", "1": "neutral", "2": "positive"}


# ------------------------------------------------------------------- safe extraction


def tar_with(path: Path, *members: tarfile.TarInfo, payload: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            if member.isfile():
                member.size = len(payload)
                tar.addfile(member, io.BytesIO(payload))
            else:
                tar.addfile(member)
    return path


def info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, linkname
    return member


UNSAFE = [
    (info("../escaped.txt"), "parent directory"),
    (info("model/../../escaped.txt"), "parent directory"),
    (info("/tmp/absolute.txt"), "absolute path"),
    (info("config.json", tarfile.SYMTYPE, "/etc/passwd"), "link"),
    (info("tokenizer.json", tarfile.SYMTYPE, "../outside"), "link"),
    (info("hard", tarfile.LNKTYPE, "config.json"), "link"),
    (info("pipe", tarfile.FIFOTYPE), "not a regular file"),
]


@pytest.mark.parametrize(("member", "reason"), UNSAFE, ids=[m.name for m, _ in UNSAFE])
def test_unsafe_members_refuse_the_whole_archive(tmp_path, member, reason):
    archive = tar_with(tmp_path / "model.tar.gz", info("config.json"), member)
    dest = tmp_path / "out" / "extracted"
    with pytest.raises(UnsafeArchiveError, match=reason):
        safe_extract(archive, dest)
    assert not dest.exists()  # nothing written, not even the safe member
    assert not (tmp_path / "out" / "escaped.txt").exists()
    assert not (tmp_path / "escaped.txt").exists()


def test_safe_archive_unpacks_and_model_root_finds_a_single_directory(tmp_path, tiny_dir):
    safe_extract(tar_gz(tiny_dir, tmp_path / "flat.tar.gz"), tmp_path / "flat")
    assert model_root(tmp_path / "flat") == tmp_path / "flat"
    nested = tar_gz(tiny_dir, tmp_path / "nested.tar.gz", prefix="model/")
    safe_extract(nested, tmp_path / "nested")
    assert model_root(tmp_path / "nested") == tmp_path / "nested" / "model"
    assert (tmp_path / "nested" / "model" / "model.safetensors").read_bytes() == (
        tiny_dir / "model.safetensors"
    ).read_bytes()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ServeConfigError, match="^MODEL_PATH: .*no config.json"):
        model_root(tmp_path / "empty")


# ---------------------------------------------------------------------------- S3 fetch


@pytest.fixture
def fake_aws(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=S3_ENV["BUCKET_NAME"])
        yield client


def test_fetch_downloads_and_unpacks_the_model(fake_aws, tmp_path, tiny_dir):
    tarball = tar_gz(tiny_dir, tmp_path / "model.tar.gz", prefix="model/")
    fake_aws.upload_file(str(tarball), S3_ENV["BUCKET_NAME"], S3_ENV["MODEL_PATH"])
    s3_object = S3Object(S3_ENV["BUCKET_NAME"], S3_ENV["MODEL_PATH"])
    model_dir = fetch_s3_model(s3_object, tmp_path / "work")
    assert model_dir == tmp_path / "work" / "s3_model" / "model"
    assert (model_dir / "config.json").read_text() == (tiny_dir / "config.json").read_text()
    assert not (tmp_path / "work" / "download" / "model.tar.gz").exists()


def test_fetch_missing_object_names_both_variables(fake_aws, tmp_path):
    s3_object = S3Object(S3_ENV["BUCKET_NAME"], "missing/model.tar.gz")
    with pytest.raises(ServeConfigError, match="^BUCKET_NAME/MODEL_PATH: .*does not exist"):
        fetch_s3_model(s3_object, tmp_path / "work")


def test_fetch_refuses_a_traversing_archive(fake_aws, tmp_path):
    tarball = tar_with(tmp_path / "evil.tar.gz", info("config.json"), info("../../evil.py"))
    fake_aws.upload_file(str(tarball), S3_ENV["BUCKET_NAME"], "evil.tar.gz")
    with pytest.raises(ServeConfigError, match="^MODEL_PATH: .*refused member"):
        fetch_s3_model(S3Object(S3_ENV["BUCKET_NAME"], "evil.tar.gz"), tmp_path / "w")
    assert not (tmp_path / "evil.py").exists()


# ---------------------------------------------------------------- archive and config


def test_ts_config_keeps_loopback_unless_bind_all(tmp_path):
    settings = parse_env({**LOCAL, "SAGEMAKER_BIND_TO_PORT": "18080"})
    config = ts_config(settings, 3, tmp_path)
    assert config["inference_address"] == "http://127.0.0.1:18080"
    assert config["management_address"] == "http://127.0.0.1:8081"
    assert config["default_workers_per_model"] == "3"
    assert config["disable_token_authorization"] == "true"
    assert config["enable_model_api"] == "false"
    assert config["install_py_dep_per_model"] == "false"
    assert config["vmargs"] == "-XX:TieredStopAtLevel=1"
    exposed = ts_config(parse_env({**LOCAL, "BIND_ALL": "true"}), 1, tmp_path)
    assert exposed["inference_address"] == "http://0.0.0.0:8080"
    assert exposed["management_address"].startswith("http://127.0.0.1:")
    assert exposed["metrics_address"].startswith("http://127.0.0.1:")


def test_prepare_builds_the_archive_and_config(tmp_path, tiny_dir):
    work = tmp_path / "work"
    env = {**LOCAL, "HUB_MODEL_NAME": str(tiny_dir), "SERVE_WORK_DIR": str(work)}
    prepared = prepare(parse_env(env), cpu_count=3)
    assert prepared.archive == work / "model_store" / "model.mar" and prepared.workers == 3
    with zipfile.ZipFile(prepared.archive) as mar:
        names = set(mar.namelist())
        setup = json.loads(mar.read("setup_config.json"))
        model_config = yaml.safe_load(mar.read("model-config.yaml"))
        manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))
    assert setup == {
        "model_name": str(tiny_dir), "mode": "sequence_classification", "do_lower_case": True,
        "num_labels": 3, "save_mode": "pretrained", "max_length": 128,
    }
    # the archive's worker bounds override default_workers_per_model in TorchServe 0.12
    assert (model_config["minWorkers"], model_config["maxWorkers"]) == (3, 3)
    assert model_config["batchSize"] == 8  # the rest as in artifacts/
    assert manifest["model"]["handler"] == "sequence_classification_handler.py"
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= names
    properties = (work / "config.properties").read_text()
    assert "default_workers_per_model=3\n" in properties
    assert "inference_address=http://127.0.0.1:8080\n" in properties
    assert launch(prepared).command()[-2:] == ["--models", "model=model.mar"]


def test_a_work_dir_in_use_is_refused(tmp_path, tiny_dir):
    (tmp_path / "someone-elses-file").write_text("keep me")
    env = {**LOCAL, "HUB_MODEL_NAME": str(tiny_dir), "SERVE_WORK_DIR": str(tmp_path)}
    with pytest.raises(ServeConfigError, match="^SERVE_WORK_DIR: "):
        prepare(parse_env(env))
    assert [p.name for p in tmp_path.iterdir()] == ["someone-elses-file"]


def test_staging_keeps_a_cased_tokenizer_cased(tmp_path, tiny_dir):
    cased = tmp_path / "cased_tokenizer"
    BertTokenizerFast(vocab=str(minilm_dir() / "vocab.txt"), do_lower_case=False).save_pretrained(
        cased
    )
    assert stage_pretrained(tiny_dir, cased, tmp_path / "staged") is False
    assert (tmp_path / "staged" / "model.safetensors").resolve() == (
        tiny_dir / "model.safetensors"
    ).resolve()
    assert stage_pretrained(tiny_dir, tiny_dir, tmp_path / "staged_uncased") is True


# --------------------------------------------------------------------------- command line


def run_serve(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in PORT_VARIABLES.values()}
    for name in ("LOCAL", "HUB_MODEL_NAME", "TOKENIZER", "SERVERLESS", "BUCKET_NAME",
                 "MODEL_PATH", "BIND_ALL", "SERVE_WORK_DIR"):
        clean.pop(name, None)
    full = {**clean, "HF_HUB_CACHE": str(cwd / "empty-hf-cache"), **env}
    return subprocess.run(
        [sys.executable, str(SERVE)], env=full, cwd=cwd, capture_output=True, text=True,
        timeout=300,
    )


CLI_ERRORS = [
    ({"LOCAL": "maybe"}, "LOCAL: must be true or false"),
    ({**LOCAL, "BUCKET_NAME": "models-bucket"}, "BUCKET_NAME: is set"),
    ({"LOCAL": "false"}, "BUCKET_NAME: is required"),
    ({"LOCAL": "true", "HUB_MODEL_NAME": UNKNOWN}, "HUB_MODEL_NAME: model_name"),
    ({"LOCAL": "true", "HUB_MODEL_NAME": PACKAGED}, "HUB_MODEL_NAME: 'sentence-transformers"),
]


@pytest.mark.parametrize(("env", "message"), CLI_ERRORS, ids=[m for _, m in CLI_ERRORS])
def test_cli_with_bad_environment_exits_nonzero_with_one_message(tmp_path, env, message):
    work = tmp_path / "work"
    result = run_serve({**env, "SERVE_WORK_DIR": str(work)}, tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (work / "model_store").exists()  # nothing was built, nothing started


def test_a_model_without_tokenizer_files_asks_for_tokenizer(tmp_path, tiny_dir):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((tiny_dir / name).read_bytes())
    with pytest.raises(ServeConfigError, match="^TOKENIZER: "):
        stage_pretrained(bare, bare, tmp_path / "staged")
    assert stage_pretrained(bare, tiny_dir, tmp_path / "staged_with_tokenizer") is True


def test_sagemaker_serve_argument_is_accepted_and_others_are_not():
    assert parse_args(["serve"]).command == "serve"
    assert parse_args([]).command == "serve"
    with pytest.raises(SystemExit):
        parse_args(["train"])
