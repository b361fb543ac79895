"""Run a .mar in-process exactly as a TorchServe worker does, minus the socket.

    with LocalArchive.open("model_store/scriptable_tokenizer.mar", work_dir) as archive:
        [response] = archive.handle([LocalRequest("I love it", "text/plain")])
        response.status, response.payload   # 200, {"Negative": ..., "Positive": ...}

The archive is unzipped into a fresh directory under ``work_dir``, which goes first on
``sys.path`` (the worker has it on PYTHONPATH). Loading goes through TorchServe's own
``TsModelLoader`` and ``Service``; each batch is encoded as the frontend would send it and
decoded by TorchServe's ``retrieve_msg``, so the handler sees the served request shapes.
Unlike a worker, the process's working directory is left alone: handlers should locate
their files through ``context.system_properties["model_dir"]``.
"""

import importlib
import json
import logging
import os
import sys
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import ts
import yaml
from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl
from ts.model_loader import TsModelLoader
from ts.protocol.otf_message_handler import retrieve_msg
from ts.service import Service

from torchserve_nlp.serving.worker_protocol import (
    LocalRequest,
    LocalResponse,
    MemorySocket,
    decode_predict_response,
    encode_predict_message,
)

__all__ = ["ArchiveInfo", "LocalArchive", "LocalRequest", "LocalResponse"]

logger = logging.getLogger(__name__)
METRICS_CONFIG = Path(ts.__file__).parent / "configs" / "metrics.yaml"


@dataclass(frozen=True)
class ArchiveInfo:
    """What the frontend reads from an unpacked archive before starting a worker."""

    model_name: str
    model_dir: Path
    handler: str
    manifest: dict[str, Any]
    model_config: dict[str, Any]

    @classmethod
    def read(cls, model_dir: Path) -> "ArchiveInfo":
        manifest_path = model_dir / "MAR-INF" / "MANIFEST.json"
        if not manifest_path.exists():
            raise ValueError(
                f"{model_dir} has no MAR-INF/MANIFEST.json; pass a .mar written by "
                "torch-model-archiver (torchserve_nlp.archive.archiver.archive_model)"
            )
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        model = manifest["model"]
        if not model.get("handler"):
            raise ValueError(f"{manifest_path} names no handler; archive with --handler")
        config_file = model.get("configFile")
        config = yaml.safe_load((model_dir / config_file).read_text()) if config_file else None
        return cls(model["modelName"], model_dir, model["handler"], manifest, config or {})

    @property
    def batch_size(self) -> int:
        """The batch size TorchServe uses for this archive: model-config.yaml's, else 1."""
        return int(self.model_config.get("batchSize", 1))


# Process-wide settings a handler may choose for its worker (nlp_runtime.hf.onnx_runtime).
HANDLER_ENVIRONMENT = ("TOKENIZERS_PARALLELISM",)


@dataclass(frozen=True)
class ProcessSettings:
    """What a handler may change in the process that loads it, to put back afterwards: a
    worker serves one model, this process may load several in turn."""

    torch_threads: int
    environment: dict[str, str | None]

    @classmethod
    def now(cls) -> "ProcessSettings":
        return cls(torch.get_num_threads(), {k: os.environ.get(k) for k in HANDLER_ENVIRONMENT})

    def restore(self) -> None:
        torch.set_num_threads(self.torch_threads)
        for key, value in self.environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class LocalArchive:
    """A loaded archive; ``handle`` runs one batch. Not thread-safe, like a worker."""

    def __init__(
        self, info: ArchiveInfo, service: Service, batch_size: int, displaced: dict[str, Any],
        settings: ProcessSettings | None = None,
    ) -> None:
        self.info = info
        self.service = service
        self.batch_size = batch_size
        self._displaced = displaced
        self._settings = settings or ProcessSettings.now()

    @classmethod
    def open(
        cls, mar_path: Path | str, work_dir: Path | str, batch_size: int | None = None
    ) -> "LocalArchive":
        """Unpack ``mar_path`` under ``work_dir`` and load it; ``batch_size`` defaults to the
        archive's model-config.yaml ``batchSize`` (else 1), as in TorchServe."""
        model_dir = unpack(Path(mar_path), Path(work_dir))
        info = ArchiveInfo.read(model_dir)
        batch_size = info.batch_size if batch_size is None else batch_size
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        settings = ProcessSettings.now()
        displaced = put_first_on_sys_path(model_dir)
        try:
            service = load_service(info, batch_size)
        except BaseException:
            take_off_sys_path(model_dir, displaced)
            settings.restore()
            raise
        logger.info("loaded %s from %s (batch size %d)", info.model_name, mar_path, batch_size)
        return cls(info, service, batch_size, displaced, settings)

    @property
    def handler(self) -> Any:
        """The handler object TorchServe's loader made (its ``handle`` is the entry point),
        for tests that look at what it does from outside."""
        return self.service._entry_point.__self__

    def handle(self, requests: list[LocalRequest]) -> list[LocalResponse]:
        """One batch through the handler; one response per request, in order."""
        if not 1 <= len(requests) <= self.batch_size:
            raise ValueError(
                f"got a batch of {len(requests)} requests; TorchServe sends 1 to "
                f"{self.batch_size} to this model: split it, or open with a larger batch_size"
            )
        request_ids = [str(uuid.uuid4()) for _ in requests]
        _, batch = retrieve_msg(MemorySocket(encode_predict_message(requests, request_ids)))
        return decode_predict_response(self.service.predict(batch))

    def close(self) -> None:
        """Take the archive's directory off ``sys.path``, forget its modules and bring back
        the same-named modules it displaced. That restoring is exact when archives close in
        reverse order of opening (nested ``with``); otherwise a later import reloads them.
        The process settings the handler changed (``ProcessSettings``) go back as well."""
        take_off_sys_path(self.info.model_dir, self._displaced)
        self._settings.restore()

    def __enter__(self) -> "LocalArchive":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def unpack(mar_path: Path, work_dir: Path) -> Path:
    if not zipfile.is_zipfile(mar_path):
        raise ValueError(
            f"{mar_path} is not a .mar (zip) archive; build one with "
            "torchserve_nlp.archive.archiver.archive_model or torch-model-archiver"
        )
    work_dir.mkdir(parents=True, exist_ok=True)
    # A fresh directory per open, so reopening never mixes files of two archive versions.
    model_dir = Path(tempfile.mkdtemp(prefix=f"{mar_path.stem}-", dir=work_dir)).resolve()
    with zipfile.ZipFile(mar_path) as archive:
        archive.extractall(model_dir)
    return model_dir


def load_service(info: ArchiveInfo, batch_size: int) -> Service:
    """What the worker's ``load_model`` does for a CPU model without an envelope."""
    metrics = MetricsCacheYamlImpl(config_file_path=str(METRICS_CONFIG))
    metrics.initialize_cache()
    metrics.model_name = info.model_name
    service = TsModelLoader().load(
        info.model_name, str(info.model_dir), info.handler, None, batch_size,
        metrics_cache=metrics,
    )
    service.set_cl_socket(None)  # only streaming handlers use the socket
    return service


def put_first_on_sys_path(model_dir: Path) -> dict[str, Any]:
    """Make the archive's flat modules win over same-named ones already imported, e.g. from
    another archive or from ``handlers/`` in tests; returns the modules it displaced."""
    displaced = {}
    for name in archive_module_names(model_dir):
        for loaded in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            displaced[loaded] = sys.modules.pop(loaded)
    sys.path.insert(0, str(model_dir))
    importlib.invalidate_caches()  # the directory was created after import caches were filled
    return displaced


def archive_module_names(model_dir: Path) -> set[str]:
    names = {path.stem for path in model_dir.glob("*.py")}
    names |= {path.parent.name for path in model_dir.glob("*/__init__.py")}
    # Dropping an imported standard-library module would break the rest of the process.
    return names - set(sys.stdlib_module_names)


def take_off_sys_path(model_dir: Path, displaced: dict[str, Any]) -> None:
    while str(model_dir) in sys.path:
        sys.path.remove(str(model_dir))
    for name, module in list(sys.modules.items()):
        if _is_under(module, model_dir):
            del sys.modules[name]
    # A displaced module from an archive closed meanwhile stays forgotten.
    importable = {Path(entry or ".").resolve() for entry in sys.path}
    for name, module in displaced.items():
        if name not in sys.modules and _import_root(name, module) in importable:
            sys.modules[name] = module


def _is_under(module: Any, directory: Path) -> bool:
    path = getattr(module, "__file__", None)
    return bool(path) and Path(path).resolve().is_relative_to(directory)


def _import_root(name: str, module: Any) -> Path | None:
    """The sys.path entry ``module`` was imported from."""
    path = getattr(module, "__file__", None)
    if not path:
        return None
    path = Path(path).resolve()
    return path.parents[name.count(".") + (path.name == "__init__.py")]
