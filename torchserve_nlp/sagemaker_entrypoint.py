"""SageMaker-style serving of ONE text classifier with TorchServe, configured by environment.

    LOCAL=true HUB_MODEL_NAME=build/sentiment/pretrained scripts/serve
    LOCAL=false BUCKET_NAME=my-bucket MODEL_PATH=models/model.tar.gz scripts/serve

Steps, each a small function: ``parse_env`` reads the environment once into a frozen
``ServeSettings`` (every error names its variable); ``prepare`` finds the model (a local
``save_pretrained`` directory or packaged name through ``model_source``, or
``s3://BUCKET_NAME/MODEL_PATH`` fetched with boto3 and unpacked by ``safe_extract``), refuses a
model without a trained sequence-classification head, builds ``model.mar`` with
``transformer_archives.archive`` and writes TorchServe's config; ``run_torchserve`` runs
``torchserve --start --foreground`` and stops it cleanly on SIGTERM or SIGINT. All of it
happens before TorchServe starts, so a bad configuration exits non-zero with one message.

TorchServe 0.12 itself answers SageMaker's ``GET /ping`` and ``POST /invocations``: an
invocation without a ``model_name`` query parameter goes to the only startup model
(``--models model=model.mar``). See docs/sagemaker.md.
"""

import argparse
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from torchserve_nlp.model_source import (
    ModelSourceError,
    cached_snapshot,
    check_model_dir,
    is_packaged_name,
    resolve_model_source,
)
from torchserve_nlp.offline_assets import minilm_dir

logger = logging.getLogger(__name__)

MODEL_NAME = "model"  # the name TorchServe serves the model under, and the archive's
MODE = "sequence_classification"
MAX_LENGTH = 128
WEIGHTS = "model.safetensors"
CONFIG_JSON = "config.json"
TOKENIZER_JSON = "tokenizer.json"
SETUP_CONFIG = "setup_config.json"
MODEL_CONFIG_YAML = "model-config.yaml"
# Copied beside the weights when the model directory has them (the handler reads the first).
EXTRA_MODEL_FILES = ("index_to_name.json", "metrics.json")
PID_FILE = ".model_server.pid"  # what the torchserve launcher writes into $TMPDIR
STOP_GRACE_SECONDS = 30.0
LOOPBACK = "127.0.0.1"
# S3's bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens.
BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
TRUE, FALSE = "true", "false"


class ServeConfigError(ValueError):
    """A configuration problem, reported as ``<VARIABLE>: <what is wrong>``."""

    def __init__(self, variable: str, detail: str) -> None:
        super().__init__(f"{variable}: {detail}")
        self.variable = variable


class UnsafeArchiveError(ValueError):
    """A tar member that could write outside the extraction directory."""


class ModelOrigin(Enum):
    LOCAL = "local"  # HUB_MODEL_NAME: a directory or a packaged name
    S3 = "s3"  # s3://BUCKET_NAME/MODEL_PATH, a model.tar.gz of save_pretrained output


class WorkerPolicy(Enum):
    SERVERLESS = "serverless"  # exactly one worker
    PER_CPU = "per-cpu"  # one worker per CPU core

    def count(self, cpu_count: int | None) -> int:
        return 1 if self is WorkerPolicy.SERVERLESS else max(1, cpu_count or 1)


class BindScope(Enum):
    LOOPBACK = LOOPBACK
    ALL = "0.0.0.0"  # SageMaker needs it; the Dockerfile sets BIND_ALL=true


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Ports:
    inference: int = 8080
    management: int = 8081
    metrics: int = 8082
    grpc_inference: int = 7070
    grpc_management: int = 7071


# Environment variable of each port; SAGEMAKER_BIND_TO_PORT is SageMaker's own name.
PORT_VARIABLES = {
    "inference": "SAGEMAKER_BIND_TO_PORT",
    "management": "SERVE_MANAGEMENT_PORT",
    "metrics": "SERVE_METRICS_PORT",
    "grpc_inference": "SERVE_GRPC_INFERENCE_PORT",
    "grpc_management": "SERVE_GRPC_MANAGEMENT_PORT",
}


@dataclass(frozen=True)
class ServeSettings:
    origin: ModelOrigin
    hub_model_name: str | None  # set exactly when origin is LOCAL
    s3_object: S3Object | None  # set exactly when origin is S3
    tokenizer: str | None
    workers: WorkerPolicy
    bind: BindScope
    ports: Ports
    work_dir: Path | None  # None: a fresh temporary directory


# --------------------------------------------------------------------------- environment


def _value(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value stripped; unset and blank are the same."""
    value = env.get(name, "").strip()
    return value or None


def parse_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _value(env, name)
    if value is None:
        return default
    if value.lower() not in (TRUE, FALSE):
        raise ServeConfigError(name, f"must be true or false (any letter case), got {value!r}")
    return value.lower() == TRUE


def parse_port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _value(env, name)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ServeConfigError(name, f"must be a port number 1-65535, got {value!r}")
    return int(value)


def parse_ports(env: Mapping[str, str]) -> Ports:
    defaults = Ports()
    values = {
        field: parse_port(env, variable, getattr(defaults, field))
        for field, variable in PORT_VARIABLES.items()
    }
    seen: dict[int, str] = {}
    for field, port in values.items():
        if port in seen:
            raise ServeConfigError(
                PORT_VARIABLES[field],
                f"port {port} is also {seen[port]}'s; every listener needs its own port",
            )
        seen[port] = PORT_VARIABLES[field]
    return Ports(**values)


def parse_bucket(value: str) -> str:
    if value.lower().startswith("s3://"):
        raise ServeConfigError(
            "BUCKET_NAME", f"give the bucket's name only, without s3:// (got {value!r})"
        )
    if not BUCKET_PATTERN.match(value) or ".." in value:
        raise ServeConfigError(
            "BUCKET_NAME",
            f"{value!r} is not a valid S3 bucket name (3-63 lower-case letters, digits, dots "
            "and hyphens)",
        )
    return value


def parse_key(value: str) -> str:
    if value.lower().startswith("s3://"):
        raise ServeConfigError(
            "MODEL_PATH", f"give the object key inside BUCKET_NAME, not a URI (got {value!r})"
        )
    if not value.endswith(".tar.gz"):
        raise ServeConfigError(
            "MODEL_PATH",
            f"must name a .tar.gz of save_pretrained output (like model.tar.gz), got {value!r}",
        )
    return value.lstrip("/")


def parse_origin(env: Mapping[str, str], local: bool) -> tuple[str | None, S3Object | None]:
    """HUB_MODEL_NAME for a local model; BUCKET_NAME and MODEL_PATH for S3; never both."""
    name, bucket, key = (_value(env, v) for v in ("HUB_MODEL_NAME", "BUCKET_NAME", "MODEL_PATH"))
    if local:
        for variable, value in (("BUCKET_NAME", bucket), ("MODEL_PATH", key)):
            if value is not None:
                raise ServeConfigError(
                    variable,
                    f"is set ({value!r}) but LOCAL=true serves HUB_MODEL_NAME; unset "
                    f"{variable} or set LOCAL=false",
                )
        if name is None:
            raise ServeConfigError(
                "HUB_MODEL_NAME",
                "is required when LOCAL=true: a directory of save_pretrained output or a "
                "packaged model name",
            )
        return name, None
    if name is not None:
        raise ServeConfigError(
            "HUB_MODEL_NAME",
            f"is set ({name!r}) but LOCAL is not true, so the model comes from "
            "s3://BUCKET_NAME/MODEL_PATH; unset HUB_MODEL_NAME or set LOCAL=true",
        )
    for variable, value in (("BUCKET_NAME", bucket), ("MODEL_PATH", key)):
        if value is None:
            raise ServeConfigError(
                variable,
                "is required when LOCAL is not true (the model is fetched from "
                "s3://BUCKET_NAME/MODEL_PATH); set BUCKET_NAME and MODEL_PATH, or LOCAL=true "
                "with HUB_MODEL_NAME",
            )
    assert bucket is not None and key is not None
    return None, S3Object(parse_bucket(bucket), parse_key(key))


def parse_env(env: Mapping[str, str]) -> ServeSettings:
    """The serving settings; ServeConfigError naming the first bad or contradictory variable.
    Only reads ``env``: nothing on disk or on the network is looked at yet."""
    local = parse_bool(env, "LOCAL", default=False)
    name, s3_object = parse_origin(env, local)
    serverless = parse_bool(env, "SERVERLESS", default=False)
    bind_all = parse_bool(env, "BIND_ALL", default=False)
    work_dir = _value(env, "SERVE_WORK_DIR")
    return ServeSettings(
        origin=ModelOrigin.LOCAL if local else ModelOrigin.S3,
        hub_model_name=name,
        s3_object=s3_object,
        tokenizer=_value(env, "TOKENIZER"),
        workers=WorkerPolicy.SERVERLESS if serverless else WorkerPolicy.PER_CPU,
        bind=BindScope.ALL if bind_all else BindScope.LOOPBACK,
        ports=parse_ports(env),
        work_dir=Path(work_dir).expanduser() if work_dir else None,
    )


# ------------------------------------------------------------------------- model sources


def resolve_local_model(name: str) -> Path:
    """HUB_MODEL_NAME's directory, resolved as setup_config's model_name is."""
    try:
        return resolve_model_source(name).path
    except ModelSourceError as error:
        raise ServeConfigError("HUB_MODEL_NAME", str(error)) from error


def resolve_tokenizer(name: str | None, model_dir: Path) -> Path:
    """TOKENIZER's directory (a directory, a packaged name or a cached hub snapshot); the
    model's own directory when TOKENIZER is unset."""
    if name is None:
        return model_dir
    local = Path(name).expanduser()
    if local.is_dir():
        return local
    if is_packaged_name(name):
        return minilm_dir()
    snapshot = cached_snapshot(name)
    if snapshot is not None:
        return snapshot
    raise ServeConfigError(
        "TOKENIZER",
        f"{name!r} is not a directory, not a packaged model name and not in the local "
        "Hugging Face cache (nothing can be downloaded); unset it to use the model's tokenizer",
    )


def unsafe_member_reason(member: tarfile.TarInfo) -> str | None:
    """Why extracting ``member`` could escape the target directory, or None if it is safe."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", member.name):
        return "absolute path"
    if ".." in path.parts:
        return "parent directory ('..') in its path"
    if member.issym() or member.islnk():
        return f"link to {member.linkname!r}"
    if not (member.isfile() or member.isdir()):
        return "not a regular file or directory"
    return None


def safe_extract(archive: Path, dest: Path) -> None:
    """Unpack ``archive`` (tar, optionally compressed) into ``dest`` after checking every
    member: absolute paths, ``..``, links and special files refuse the whole archive before
    anything is written. Python's ``data`` extraction filter checks again while writing."""
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            reason = unsafe_member_reason(member)
            if reason is not None:
                raise UnsafeArchiveError(
                    f"{archive.name}: refused member {member.name!r}: {reason}"
                )
        dest.mkdir(parents=True, exist_ok=True)
        tar.extractall(dest, members=members, filter="data")


def model_root(extracted: Path) -> Path:
    """The directory holding config.json: ``extracted`` itself or its only subdirectory."""
    if (extracted / CONFIG_JSON).is_file():
        return extracted
    entries = [p for p in extracted.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / CONFIG_JSON).is_file():
        return entries[0]
    names = sorted(p.name for p in entries)
    raise ServeConfigError(
        "MODEL_PATH",
        f"the archive holds no {CONFIG_JSON} at its top level or in a single top-level "
        f"directory (found {names}); pack save_pretrained output",
    )


def download(s3_object: S3Object, target: Path, client: Any = None) -> Path:
    """``s3_object`` into ``target`` with boto3 (which honours AWS_ENDPOINT_URL)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = client or boto3.client("s3")
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("downloading %s", s3_object.uri)
    try:
        client.download_file(s3_object.bucket, s3_object.key, str(target))
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchBucket"):
            detail = f"{s3_object.uri} does not exist (S3 said {code})"
        else:
            detail = f"cannot download {s3_object.uri}: {error}"
        raise ServeConfigError("BUCKET_NAME/MODEL_PATH", detail) from error
    except BotoCoreError as error:
        raise ServeConfigError(
            "BUCKET_NAME/MODEL_PATH", f"cannot download {s3_object.uri}: {error}"
        ) from error
    return target


def fetch_s3_model(s3_object: S3Object, work_dir: Path, client: Any = None) -> Path:
    """Download and safely unpack the model.tar.gz; the save_pretrained directory in it."""
    archive = download(s3_object, work_dir / "download" / "model.tar.gz", client)
    extracted = work_dir / "s3_model"
    try:
        safe_extract(archive, extracted)
    except (UnsafeArchiveError, tarfile.TarError, EOFError, OSError) as error:
        raise ServeConfigError("MODEL_PATH", f"{s3_object.uri}: {error}") from error
    archive.unlink()
    root = model_root(extracted)
    try:
        return check_model_dir(root, s3_object.uri)
    except ModelSourceError as error:
        raise ServeConfigError("MODEL_PATH", str(error)) from error


# ----------------------------------------------------------------- checking and archiving


def classifier_labels(model_dir: Path, variable: str, name: str) -> dict[str, str]:
    """config.json's id2label, once the weights are known to hold a trained
    sequence-classification head; otherwise ServeConfigError (a random head is useless)."""
    try:
        config = json.loads((model_dir / CONFIG_JSON).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ServeConfigError(variable, f"{name!r}: {CONFIG_JSON} is not JSON: {error}") from error
    if not isinstance(config, dict):
        raise ServeConfigError(variable, f"{name!r}: {CONFIG_JSON} is not a JSON object")
    architectures = config.get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        raise ServeConfigError(
            variable,
            f"{name!r} is not a sequence classifier (architectures {architectures}): a base "
            "encoder would be served with a randomly initialised head, whose answers are "
            "meaningless. Fine-tune it first (e.g. scripts/train_sentiment.py) and serve the "
            "fine-tuned save_pretrained directory",
        )
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        raise ServeConfigError(
            variable,
            f"{name!r}: {CONFIG_JSON} has no id2label; set model.config.id2label to the label "
            "names and save_pretrained again",
        )
    if not (model_dir / WEIGHTS).is_file():
        raise ServeConfigError(
            variable, f"{name!r}: no {WEIGHTS} (sharded weights are not archived; save with a "
            "larger max_shard_size)",
        )
    try:
        missing = missing_head_weights(model_dir)
    except (OSError, ValueError, RuntimeError) as error:
        raise ServeConfigError(
            variable, f"{name!r} does not load as a sequence classifier: {error}"
        ) from error
    if missing:
        raise ServeConfigError(
            variable,
            f"{name!r}: {WEIGHTS} lacks the classification head ({', '.join(missing)}), so it "
            "would be randomly initialised; serve a fine-tuned classifier",
        )
    return {str(k): str(v) for k, v in id2label.items()}


def missing_head_weights(model_dir: Path) -> list[str]:
    """Weights AutoModelForSequenceClassification would have to initialise randomly."""
    from transformers import AutoModelForSequenceClassification

    model, info = AutoModelForSequenceClassification.from_pretrained(
        model_dir, use_safetensors=True, local_files_only=True, output_loading_info=True
    )
    del model
    return sorted([*info["missing_keys"], *(k for k, *_ in info["mismatched_keys"])])


def stage_pretrained(model_dir: Path, tokenizer_dir: Path, out: Path) -> bool:
    """The directory ``archive`` packs: the weights (linked), config.json, the tokenizer
    re-saved with tokenizer.json, and any label map or metrics. Returns ``do_lower_case``."""
    from transformers import AutoTokenizer

    out.mkdir(parents=True)
    (out / WEIGHTS).symlink_to((model_dir / WEIGHTS).resolve())
    for name in (CONFIG_JSON, *EXTRA_MODEL_FILES):
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, out / name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ServeConfigError(
            "TOKENIZER", f"no tokenizer loads from {tokenizer_dir} (set TOKENIZER to a "
            f"tokenizer directory or name if the model has none): {error}"
        ) from error
    # transformers 5 builds an empty-vocabulary tokenizer from a directory without any.
    vocab_files = sorted(set(tokenizer.vocab_files_names.values()))
    if not any((tokenizer_dir / name).is_file() for name in vocab_files):
        raise ServeConfigError(
            "TOKENIZER", f"{tokenizer_dir} has no tokenizer vocabulary ({' or '.join(vocab_files)}"
            "); set TOKENIZER to the model's tokenizer",
        )
    tokenizer.save_pretrained(out)
    if not (out / TOKENIZER_JSON).is_file():
        raise ServeConfigError(
            "TOKENIZER", f"{tokenizer_dir} holds a slow tokenizer only; give one with "
            f"{TOKENIZER_JSON}",
        )
    # The handler passes do_lower_case to the tokenizer: it must be the tokenizer's own.
    return bool(getattr(tokenizer, "do_lower_case", True))


def setup_config(model_name: str, num_labels: int, do_lower_case: bool) -> dict[str, Any]:
    return {
        "model_name": model_name,
        "mode": MODE,
        "do_lower_case": do_lower_case,
        "num_labels": num_labels,
        "save_mode": "pretrained",
        "max_length": MAX_LENGTH,
    }


def write_json(path: Path, content: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return path


def serving_artifacts(source: Path, dest: Path, workers: int) -> Path:
    """A copy of the task's artifacts directory whose model-config.yaml asks for ``workers``
    workers. TorchServe 0.12 lets an archive's minWorkers/maxWorkers override
    default_workers_per_model (ModelServer.initModelStore), and the repository's
    model-config.yaml pins one worker."""
    shutil.copytree(source, dest)
    config_path = dest / MODEL_CONFIG_YAML
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    config.update(minWorkers=workers, maxWorkers=workers)
    config_path.write_text(
        "# Generated by torchserve_nlp.sagemaker_entrypoint from "
        f"artifacts/{source.name}/{MODEL_CONFIG_YAML}\n" + yaml.safe_dump(config),
        encoding="utf-8",
    )
    return dest


def relocated_task(mode: str, artifacts: Path) -> Any:
    """``TASKS[mode]`` with its artifacts (model-config.yaml, requirements.txt) read from
    ``artifacts`` instead of the repository's ``artifacts/<mode>``."""
    from torchserve_nlp.transformer_archives import TASKS, TransformerTask

    location = Path(artifacts)

    class RelocatedTask(TransformerTask):
        @property
        def artifacts(self) -> Path:
            return location

    base = TASKS[mode]
    return RelocatedTask(**{f.name: getattr(base, f.name) for f in fields(base)})


def build_archive(pretrained: Path, setup: Path, artifacts: Path, store: Path) -> Path:
    """``store/model.mar``: ``transformer_archives.archive`` of the sequence-classification
    task, with its artifacts read from ``artifacts``."""
    from torchserve_nlp.transformer_archives import archive

    task = relocated_task(MODE, artifacts)
    return archive(task, pretrained, store, setup_config=setup, name=MODEL_NAME)


def ts_config(settings: ServeSettings, workers: int, store: Path) -> dict[str, str]:
    """TorchServe's settings, with the choices of the repository's config.properties."""
    ports = settings.ports
    return {
        "inference_address": f"http://{settings.bind.value}:{ports.inference}",
        # Management (worker scaling, model descriptions) and metrics stay on loopback.
        "management_address": f"http://{LOOPBACK}:{ports.management}",
        "metrics_address": f"http://{LOOPBACK}:{ports.metrics}",
        "grpc_inference_address": LOOPBACK,
        "grpc_management_address": LOOPBACK,
        "grpc_inference_port": str(ports.grpc_inference),
        "grpc_management_port": str(ports.grpc_management),
        "model_store": str(store),
        "default_workers_per_model": str(workers),
        "metrics_mode": "prometheus",
        "disable_token_authorization": TRUE,
        "enable_model_api": FALSE,
        "install_py_dep_per_model": FALSE,
    }


def write_ts_config(path: Path, config: Mapping[str, str]) -> Path:
    lines = ["# Generated by torchserve_nlp.sagemaker_entrypoint; see docs/sagemaker.md."]
    lines += [f"{key}={value}" for key, value in config.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ running


@dataclass(frozen=True)
class Prepared:
    """Everything TorchServe needs, all under ``work_dir``."""

    work_dir: Path
    archive: Path
    config: Path
    workers: int

    @property
    def tmp_dir(self) -> Path:
        return self.work_dir / "tmp"

    @property
    def pid_file(self) -> Path:
        return self.tmp_dir / PID_FILE


def work_directory(settings: ServeSettings) -> Path:
    if settings.work_dir is None:
        return Path(tempfile.mkdtemp(prefix="sagemaker-serve-"))
    work_dir = settings.work_dir
    if work_dir.exists() and (not work_dir.is_dir() or any(work_dir.iterdir())):
        raise ServeConfigError(
            "SERVE_WORK_DIR", f"{work_dir} must be an empty or missing directory"
        )
    work_dir.mkdir(parents=True, exist_ok=True)
    return work_dir.resolve()


def model_directory(settings: ServeSettings, work_dir: Path) -> tuple[Path, str, str]:
    """The save_pretrained directory, its display name and the variable that named it."""
    if settings.origin is ModelOrigin.LOCAL:
        assert settings.hub_model_name is not None
        name = settings.hub_model_name
        return resolve_local_model(name), name, "HUB_MODEL_NAME"
    assert settings.s3_object is not None
    return fetch_s3_model(settings.s3_object, work_dir), settings.s3_object.uri, "MODEL_PATH"


def prepare(settings: ServeSettings, cpu_count: int | None = None) -> Prepared:
    """Find and check the model, build model.mar and write config.properties."""
    from torchserve_nlp.transformer_archives import TASKS

    work_dir = work_directory(settings)
    model_dir, name, variable = model_directory(settings, work_dir)
    tokenizer_dir = resolve_tokenizer(settings.tokenizer, model_dir)
    logger.info("model %s from %s; tokenizer from %s", name, model_dir, tokenizer_dir)
    labels = classifier_labels(model_dir, variable, name)
    do_lower_case = stage_pretrained(model_dir, tokenizer_dir, work_dir / "pretrained")
    setup = write_json(
        work_dir / "setup" / SETUP_CONFIG, setup_config(name, len(labels), do_lower_case)
    )
    workers = settings.workers.count(os.cpu_count() if cpu_count is None else cpu_count)
    artifacts = serving_artifacts(TASKS[MODE].artifacts, work_dir / "artifacts" / MODE, workers)
    store = work_dir / "model_store"
    archive = build_archive(work_dir / "pretrained", setup, artifacts, store)
    config = write_ts_config(work_dir / "config.properties", ts_config(settings, workers, store))
    (work_dir / "tmp").mkdir()
    logger.info("%s built; %d worker(s); labels %s", archive, workers, list(labels.values()))
    return Prepared(work_dir, archive, config, workers)


def executable(name: str) -> str:
    """``name`` beside the running interpreter, else on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ServeConfigError(
            "PATH", f"{name} is not installed beside {sys.executable} or on PATH"
        )
    return found


def check_java(env: Mapping[str, str]) -> None:
    java_home = env.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return
    if shutil.which("java") is None:
        raise ServeConfigError(
            "JAVA_HOME", "java is not on PATH; TorchServe's frontend needs a Java 17 runtime "
            "(apt-get install openjdk-17-jre-headless)",
        )


def torchserve_command(prepared: Prepared) -> list[str]:
    return [
        executable("torchserve"), "--start", "--foreground", "--ncs",
        "--ts-config", str(prepared.config),
        "--model-store", str(prepared.archive.parent),
        "--models", f"{MODEL_NAME}={prepared.archive.name}",
    ]


def torchserve_env(prepared: Prepared, env: Mapping[str, str]) -> dict[str, str]:
    """TMPDIR (pid file) and TEMP (Java's tmpdir: worker sockets) private to this server."""
    return {
        **env,
        "TMPDIR": str(prepared.tmp_dir),
        "TEMP": str(prepared.tmp_dir),
        "LOG_LOCATION": str(prepared.work_dir / "logs"),
        "METRICS_LOCATION": str(prepared.work_dir / "logs"),
    }


def frontend_pid(pid_file: Path, group: int) -> int | None:
    """The Java frontend's pid from the launcher's pid file, if it is in our server's group."""
    try:
        pid = int(pid_file.read_text().split()[0])
        return pid if os.getpgid(pid) == group else None
    except (OSError, ValueError, IndexError):
        return None


def signal_group(group: int, signum: int) -> bool:
    """Send ``signum`` to the server's process group; False when the group is gone."""
    try:
        os.killpg(group, signum)
        return True
    except ProcessLookupError:
        return False


def wait_group_gone(group: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while signal_group(group, 0):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop_torchserve(launcher: subprocess.Popen, pid_file: Path, grace: float) -> None:
    """Stop as ``torchserve --stop`` does (SIGTERM to the Java frontend, which shuts its
    workers down), then make sure nothing of the server's process group is left."""
    group = launcher.pid
    frontend = frontend_pid(pid_file, group)
    if frontend is not None:
        os.kill(frontend, signal.SIGTERM)
    else:
        signal_group(group, signal.SIGTERM)
    try:
        launcher.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        logger.warning("TorchServe did not stop within %.0fs: killing it", grace)
        signal_group(group, signal.SIGKILL)
        launcher.wait()
    if not wait_group_gone(group, 10.0):
        logger.warning("killing TorchServe processes left after the frontend stopped")
        signal_group(group, signal.SIGKILL)


def run_torchserve(prepared: Prepared, env: Mapping[str, str]) -> int:
    """Run TorchServe in the foreground until it exits or SIGTERM/SIGINT asks us to stop;
    0 after a requested stop, 1 if TorchServe ended on its own."""
    command = torchserve_command(prepared)
    logger.info("starting: %s", " ".join(command))
    received: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda signum, _frame: received.append(signum))
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        launcher = subprocess.Popen(
            command, cwd=prepared.work_dir, env=torchserve_env(prepared, env),
            start_new_session=True,  # its own process group: one signal reaches all of it
        )
        while launcher.poll() is None and not received:
            time.sleep(0.2)
        if received:
            logger.info("received %s: stopping TorchServe", signal.Signals(received[0]).name)
            stop_torchserve(launcher, prepared.pid_file, STOP_GRACE_SECONDS)
            logger.info("TorchServe stopped")
            return 0
        logger.error("TorchServe exited on its own (status %s)", launcher.returncode)
        signal_group(launcher.pid, signal.SIGKILL)
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Serve one text classifier with TorchServe, configured by environment "
        "variables (see docs/sagemaker.md).",
    )
    # SageMaker starts containers as `docker run IMAGE serve`.
    parser.add_argument("command", nargs="?", choices=["serve"], default="serve")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parse_args(argv)
    env = dict(os.environ if env is None else env)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = parse_env(env)
        check_java(env)
        prepared = prepare(settings)
    except (ServeConfigError, ModelSourceError) as error:
        logger.error("%s", error)
        return 2
    except (OSError, subprocess.CalledProcessError) as error:
        logger.error("preparing the model failed: %s", error)
        return 1
    return run_torchserve(prepared, env)


if __name__ == "__main__":
    raise SystemExit(main())
