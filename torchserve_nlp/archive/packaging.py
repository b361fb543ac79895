"""Package any torch model whose class defines ``predict_single`` as a TorchServe archive.

    package_model("news_classifier", model, "model.py", export_path="model_store")

The archive holds the class's file, its constructor arguments as JSON, the weights as
safetensors and the runtime with its generic ``predict_single_handler``. Before archiving, the
model is rebuilt from a staged copy of the archive with the handler's own loading code, so what
packs is what serves.
"""

import logging
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_model, save_model
from torch import nn

from nlp_runtime.tasks import predict_single_model
from torchserve_nlp.archive.archiver import archive_model, runtime_names
from torchserve_nlp.archive.packaging_checks import (
    PackagingError,
    archive_file_arguments,
    check_files,
    check_name,
    check_predict_single,
    constructor_arguments,
)
from torchserve_nlp.file_names import MODEL_CONFIG_YAML

logger = logging.getLogger(__name__)

HANDLER = "predict_single_handler.py"
CONFIG_FILE = MODEL_CONFIG_YAML


@dataclass(frozen=True)
class BatchingConfig:
    """TorchServe's per-model settings, written to the archive's model-config.yaml."""

    batch_size: int = 8
    max_batch_delay_ms: int = 50
    response_timeout_s: int = 120
    workers: int = 1

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_batch_delay_ms < 0 or self.workers < 1:
            raise PackagingError(
                f"invalid batching {self}: batch_size and workers must be >= 1 and "
                "max_batch_delay_ms >= 0"
            )

    def to_yaml(self) -> str:
        return yaml.safe_dump(
            {
                "minWorkers": self.workers,
                "maxWorkers": self.workers,
                "batchSize": self.batch_size,
                "maxBatchDelay": self.max_batch_delay_ms,
                "responseTimeout": self.response_timeout_s,
            },
            sort_keys=False,
        )


def package_model(
    name: str,
    model: nn.Module,
    model_file: str | Path,
    export_path: str | Path = "model_store",
    *,
    init_args: dict[str, Any] | None = None,
    extra_files: list[str | Path] | tuple[str | Path, ...] = (),
    requirements_file: str | Path | None = None,
    batching: BatchingConfig | None = None,
    sample_input: Any = None,
    version: str = "1.0",
) -> Path:
    """Write ``export_path/name.mar`` and return its path.

    ``init_args`` are the keyword arguments that rebuild ``model``'s class; without them
    each ``__init__`` parameter is read from the model attribute of the same name. An
    argument whose value is the path of one of ``extra_files`` is handed to the class at
    serve time as the path of that file inside the unpacked archive. With
    ``sample_input``, the rebuilt model's ``predict_single`` must answer it exactly like
    ``model`` does.
    """
    runtime = predict_single_model
    model_file = Path(model_file)
    extras = [Path(p) for p in extra_files]
    check_name(name)
    archive_names = {
        HANDLER,
        *runtime_names(),
        CONFIG_FILE,
        runtime.SPEC_FILE,
        runtime.WEIGHTS_FILE,
    }
    check_files(model_file, extras, requirements_file, archive_names)
    model_class = _check_class(model, model_file, runtime)
    arguments = constructor_arguments(model, init_args)
    archive_files = archive_file_arguments(arguments, extras)
    spec = runtime.ModelSpec(
        model_file.name,
        model_class.__name__,
        {k: v for k, v in arguments.items() if k not in archive_files},
        archive_files,
    )
    with tempfile.TemporaryDirectory(prefix=f"package-{name}-") as staging_dir:
        staged = Path(staging_dir)
        _stage(staged, model, model_file, extras, spec, runtime, batching or BatchingConfig())
        _check_rebuild(model, staged, spec, runtime, sample_input)
        return archive_model(
            name,
            serialized_file=staged / runtime.WEIGHTS_FILE,
            handler=HANDLER,
            export_path=Path(export_path),
            extra_files=[
                staged / model_file.name,
                staged / runtime.SPEC_FILE,
                *(staged / path.name for path in extras),
            ],
            config_file=staged / CONFIG_FILE,
            requirements_file=Path(requirements_file) if requirements_file else None,
            version=version,
        )


def _check_class(model: nn.Module, model_file: Path, runtime: Any) -> type:
    model_class = type(model)
    if not isinstance(model, nn.Module):
        raise PackagingError(f"model is a {model_class.__name__}, not a torch.nn.Module")
    check_predict_single(model_class)
    module_name = f"_package_check_{uuid.uuid4().hex}"
    try:
        module = runtime.load_module(model_file, module_name)
    except Exception as error:
        raise PackagingError(
            f"running {model_file} failed with {type(error).__name__}: {error}; the archive "
            "runs it to rebuild the model, so it must import cleanly"
        ) from error
    finally:
        sys.modules.pop(module_name, None)
    try:
        found = runtime.find_class(module, model_class.__name__, model_file)
    except LookupError as error:
        raise PackagingError(str(error)) from None
    return check_predict_single(found)


def _stage(
    staged: Path,
    model: nn.Module,
    model_file: Path,
    extras: list[Path],
    spec: Any,
    runtime: Any,
    batching: BatchingConfig,
) -> None:
    """Lay the archive's files out flat, as TorchServe unpacks them."""
    shutil.copy(model_file, staged / model_file.name)
    for path in extras:
        shutil.copy(path, staged / path.name)
    (staged / runtime.SPEC_FILE).write_text(spec.to_json(), encoding="utf-8")
    (staged / CONFIG_FILE).write_text(batching.to_yaml(), encoding="utf-8")
    save_model(model, str(staged / runtime.WEIGHTS_FILE))


def _check_rebuild(
    model: nn.Module, staged: Path, spec: Any, runtime: Any, sample_input: Any
) -> None:
    module_name = f"_package_rebuild_{uuid.uuid4().hex}"
    try:
        rebuilt = runtime.rebuild(staged, spec, module_name, runtime.WEIGHTS_FILE)
    except Exception as error:
        raise PackagingError(
            f"rebuilding {spec.class_name}(**{spec.init_args}) from {spec.model_file} and "
            f"loading its weights failed with {type(error).__name__}: {error}; pass init_args "
            "that reproduce the model's architecture"
        ) from error
    finally:
        sys.modules.pop(module_name, None)
    if sample_input is None:
        return
    was_training = model.training
    try:
        with torch.inference_mode():
            expected = model.eval().predict_single(sample_input)
            got = rebuilt.predict_single(sample_input)
    finally:
        model.train(was_training)
    if not _same(expected, got):
        raise PackagingError(
            f"the rebuilt {spec.class_name} answers the sample input with {got!r}, the given "
            f"model with {expected!r}; state that is neither a constructor argument nor in "
            "state_dict() is lost, so record it in init_args or register it as a buffer"
        )


def _same(left: Any, right: Any) -> bool:
    return _comparable(left) == _comparable(right)


def _comparable(value: Any) -> Any:
    """Tensors and arrays as nested lists, so results holding them compare by value."""
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_comparable(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    return value


def load_model_from_files(
    model_file: str | Path,
    weights_file: str | Path,
    init_args: dict[str, Any],
    class_name: str | None = None,
) -> nn.Module:
    """Build the class in ``model_file`` from ``init_args`` and load safetensors weights;
    without ``class_name``, the file must define exactly one class with predict_single."""
    model_file, weights_file = Path(model_file), Path(weights_file)
    if weights_file.suffix != ".safetensors":
        raise PackagingError(
            f"weights file {weights_file} is not a .safetensors file; save the weights with "
            "safetensors.torch.save_model(model, 'weights.safetensors') (pickles are refused)"
        )
    for path in (model_file, weights_file):
        if not path.is_file():
            raise PackagingError(f"{path} is not a file; pass an existing file")
    runtime = predict_single_model
    module = runtime.load_module(model_file, f"_package_cli_{uuid.uuid4().hex}")
    if class_name is None:
        candidates = [
            value.__name__
            for value in vars(module).values()
            if isinstance(value, type)
            and value.__module__ == module.__name__
            and callable(getattr(value, "predict_single", None))
        ]
        if len(candidates) != 1:
            raise PackagingError(
                f"{model_file} defines {len(candidates)} classes with predict_single "
                f"({candidates}); name the one to package with class_name / --class-name"
            )
        class_name = candidates[0]
    try:
        model_class = runtime.find_class(module, class_name, model_file)
    except LookupError as error:
        raise PackagingError(str(error)) from None
    model = model_class(**init_args)
    load_model(model, weights_file, strict=True)
    return model.eval()
