"""KServe's storage layout for TorchServe: ``config/config.properties`` + ``model-store/*.mar``.

KServe's storage initializer copies ``storageUri`` to /mnt/models; the runtime of
deploy/kserve starts TorchServe on ``/mnt/models/model-store`` with
``/mnt/models/config/config.properties``. That file's ``model_snapshot`` registers every
archive at start-up with its own workers and batching (TorchServe 0.12 applies the snapshot's
minWorkers, maxWorkers, batchSize, maxBatchDelay and responseTimeout over the archive's
model-config.yaml, and honours the snapshot with ``--ncs``; both checked on a real server).
Per-model values default to the archive's model-config.yaml.
"""

import json
import logging
import re
import shutil
import zipfile
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path, PurePosixPath

import yaml

from torchserve_nlp.deploy import container
from torchserve_nlp.serving.torchserve import FRONTEND_VM_ARGS

logger = logging.getLogger(__name__)

MANIFEST = "MAR-INF/MANIFEST.json"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# TorchServe 0.12's own defaults, where an archive's model-config.yaml is silent.
DEFAULT_BATCH_DELAY_MS = 100
DEFAULT_RESPONSE_TIMEOUT_S = 120


class LayoutError(ValueError):
    """An archive, a per-model setting or the output folder is not usable."""


class Setting(Enum):
    """The per-model settings a layout may override (``name=value`` on the command line)."""

    WORKERS = "workers"  # min and max workers both
    MIN_WORKERS = "min_workers"
    MAX_WORKERS = "max_workers"
    BATCH_SIZE = "batch_size"
    MAX_BATCH_DELAY = "max_batch_delay"  # milliseconds
    RESPONSE_TIMEOUT = "response_timeout"  # seconds


# model-config.yaml's keys, as TorchServe's snapshot spells them too.
YAML_KEYS = {
    Setting.MIN_WORKERS: "minWorkers",
    Setting.MAX_WORKERS: "maxWorkers",
    Setting.BATCH_SIZE: "batchSize",
    Setting.MAX_BATCH_DELAY: "maxBatchDelay",
    Setting.RESPONSE_TIMEOUT: "responseTimeout",
}


@dataclass(frozen=True)
class ModelEntry:
    """One archive as the snapshot registers it."""

    name: str  # the archive's modelName: the name in /predictions/<name>, /v1/models/<name>
    archive: Path
    version: str
    min_workers: int = 1
    max_workers: int = 1
    batch_size: int = 1
    max_batch_delay: int = DEFAULT_BATCH_DELAY_MS
    response_timeout: int = DEFAULT_RESPONSE_TIMEOUT_S

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise LayoutError(f"{self.archive}: model name {self.name!r} is not a valid name")
        for setting in (f.name for f in fields(self) if f.type is int):
            if getattr(self, setting) < (0 if setting == "max_batch_delay" else 1):
                raise LayoutError(f"{self.name}: {setting} must be positive")
        if self.min_workers > self.max_workers:
            raise LayoutError(f"{self.name}: min_workers {self.min_workers} > max_workers "
                              f"{self.max_workers}")

    def snapshot(self) -> dict:
        return {self.version: {
            "defaultVersion": True, "marName": f"{self.name}.mar",
            "minWorkers": self.min_workers, "maxWorkers": self.max_workers,
            "batchSize": self.batch_size, "maxBatchDelay": self.max_batch_delay,
            "responseTimeout": self.response_timeout,
        }}


@dataclass(frozen=True)
class ServerSettings:
    """What config.properties says beyond the models. ``mount`` is where the layout is seen
    from inside the container; the defaults are container.py's contract."""

    mount: PurePosixPath = container.MOUNT
    inference_port: int = container.INFERENCE_PORT
    management_port: int = container.MANAGEMENT_PORT
    metrics_port: int = container.METRICS_PORT
    job_queue_size: int = 100  # requests queued per model before TorchServe answers 503
    max_request_size: int = 6553500
    max_response_size: int = 6553500
    with_metrics_config: bool = False  # config/metrics.yaml present in the layout
    extra: tuple[tuple[str, str], ...] = field(default=())  # more key=value lines, last


def read_archive(archive: Path) -> ModelEntry:
    """The archive's name, version and model-config.yaml settings (LayoutError if it is not
    a TorchServe archive)."""
    try:
        with zipfile.ZipFile(archive) as mar:
            manifest = json.loads(mar.read(MANIFEST))
            model = manifest["model"]
            config_name = model.get("configFile")
            config = yaml.safe_load(mar.read(config_name)) if config_name else {}
    except (OSError, KeyError, zipfile.BadZipFile, ValueError, yaml.YAMLError) as error:
        raise LayoutError(f"{archive}: not a readable TorchServe archive ({error})") from error
    values = {s.value: config[key] for s, key in YAML_KEYS.items() if key in (config or {})}
    return ModelEntry(name=model["modelName"], archive=archive,
                      version=str(model.get("modelVersion", "1.0")), **values)


def parse_overrides(spec: str) -> dict[Setting, int]:
    """``"workers=2,batch_size=8"`` -> {Setting.WORKERS: 2, Setting.BATCH_SIZE: 8}."""
    overrides = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, sep, value = item.partition("=")
        try:
            setting = Setting(key.strip())
        except ValueError:
            known = ", ".join(s.value for s in Setting)
            raise LayoutError(f"unknown setting {key!r} (known: {known})") from None
        if not sep or not value.strip().isdigit():
            raise LayoutError(f"{key}: give a whole number, as {key}=4")
        overrides[setting] = int(value)
    return overrides


def apply_overrides(entry: ModelEntry, overrides: dict[Setting, int]) -> ModelEntry:
    changes = {s.value: v for s, v in overrides.items() if s is not Setting.WORKERS}
    if Setting.WORKERS in overrides:
        changes["min_workers"] = changes["max_workers"] = overrides[Setting.WORKERS]
    return replace(entry, **changes)


def snapshot(models: list[ModelEntry]) -> str:
    """TorchServe's ``model_snapshot`` value: one line of JSON."""
    body = {"name": "startup.cfg", "modelCount": len(models),
            "models": {model.name: model.snapshot() for model in models}}
    return json.dumps(body, separators=(",", ":"))


def properties(models: list[ModelEntry], settings: ServerSettings) -> dict[str, str]:
    """config.properties as key -> value, in the order written."""
    mount = settings.mount
    values = {
        "inference_address": f"http://{container.ALL_INTERFACES}:{settings.inference_port}",
        "management_address": f"http://{container.LOOPBACK}:{settings.management_port}",
        "metrics_address": f"http://{container.ALL_INTERFACES}:{settings.metrics_port}",
        "grpc_inference_address": container.LOOPBACK,
        "grpc_management_address": container.LOOPBACK,
        "grpc_inference_port": str(container.GRPC_INFERENCE_PORT),
        "grpc_management_port": str(container.GRPC_MANAGEMENT_PORT),
        "model_store": str(container.store_path(mount)),
        "ts_open_inference_protocol": "true",
        "disable_token_authorization": "true",
        "enable_model_api": "false",
        "install_py_dep_per_model": "false",
        "vmargs": FRONTEND_VM_ARGS,
        "metrics_mode": "prometheus",
        "job_queue_size": str(settings.job_queue_size),
        "max_request_size": str(settings.max_request_size),
        "max_response_size": str(settings.max_response_size),
    }
    if settings.with_metrics_config:
        values["metrics_config"] = str(mount / container.CONFIG_DIR / container.METRICS_FILE)
    values.update(settings.extra)
    values["model_snapshot"] = snapshot(models)
    return values


HEADER = """\
# Written by scripts/kserve_layout.py for KServe's TorchServe layout (docs/kserve.md).
# Inference (REST v1, v2 and /predictions) on all interfaces: Kubernetes routes there.
# Management and gRPC on loopback only. Token authorization is off: authenticate at the
# ingress and keep the pod's port closed to everything else (deploy/kubernetes/networkpolicy).
# model_snapshot registers every archive of model-store/ with its workers and batching.
"""


def config_text(models: list[ModelEntry], settings: ServerSettings) -> str:
    lines = [f"{key}={value}" for key, value in properties(models, settings).items()]
    return HEADER + "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Layout:
    root: Path
    config: Path
    models: tuple[ModelEntry, ...]


def check_unique(models: list[ModelEntry]) -> None:
    seen: dict[str, Path] = {}
    for model in models:
        if model.name in seen:
            raise LayoutError(f"{model.archive} and {seen[model.name]} are both named "
                              f"{model.name!r}")
        seen[model.name] = model.archive


def write_layout(
    out: Path,
    models: list[ModelEntry],
    settings: ServerSettings = ServerSettings(),
    metrics_config: Path | None = None,
) -> Layout:
    """Write ``out/config/config.properties`` and ``out/model-store/<name>.mar`` (and
    ``out/config/metrics.yaml`` from ``metrics_config``). ``out`` must be empty or missing:
    a layout is uploaded whole, so nothing stale may ride along."""
    if not models:
        raise LayoutError("no archives given")
    check_unique(models)
    if out.exists() and any(out.iterdir()):
        raise LayoutError(f"{out} is not empty; give a new folder")
    settings = replace(settings, with_metrics_config=metrics_config is not None)
    store = out / container.STORE_DIR
    config_dir = out / container.CONFIG_DIR
    store.mkdir(parents=True)
    config_dir.mkdir()
    for model in models:
        shutil.copyfile(model.archive, store / f"{model.name}.mar")
        logger.info("%s: %s (workers %d-%d, batch %d, delay %d ms)", model.name, model.archive,
                    model.min_workers, model.max_workers, model.batch_size,
                    model.max_batch_delay)
    if metrics_config is not None:
        shutil.copyfile(metrics_config, config_dir / container.METRICS_FILE)
    config = config_dir / container.CONFIG_FILE
    config.write_text(config_text(models, settings), encoding="utf-8")
    logger.info("wrote %s", config)
    return Layout(root=out, config=config, models=tuple(models))
