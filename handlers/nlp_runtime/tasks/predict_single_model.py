"""Rebuild a user's model from an unpacked archive: class file + JSON arguments + safetensors.

Packaging runs this same code on a staged copy of the archive, so an archive that packs
is an archive that loads. Nothing here unpickles: the weights are read with safetensors.
"""

import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from safetensors.torch import load_model
from torch import nn

SPEC_FILE = "predict_single.json"
WEIGHTS_FILE = "weights.safetensors"


@dataclass(frozen=True)
class ModelSpec:
    """What the archive's ``predict_single.json`` records."""

    model_file: str
    class_name: str
    init_args: dict[str, Any] = field(default_factory=dict)
    # Constructor argument -> file name inside the archive; handed over as a path string.
    archive_files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "model_file": self.model_file,
                "class_name": self.class_name,
                "init_args": self.init_args,
                "archive_files": self.archive_files,
            },
            indent=2,
            allow_nan=False,
        )


def read_spec(path: Path) -> ModelSpec:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(
            f"cannot read the model spec {path}: {error}; repackage the model"
        ) from None
    missing = {"model_file", "class_name"} - set(raw)
    if missing:
        raise ValueError(f"model spec {path} lacks {sorted(missing)}; repackage the model")
    return ModelSpec(
        raw["model_file"],
        raw["class_name"],
        dict(raw.get("init_args", {})),
        dict(raw.get("archive_files", {})),
    )


def load_module(path: Path, module_name: str) -> ModuleType:
    """Execute ``path`` as module ``module_name`` (registered in sys.modules, as an import
    would, so that dataclasses and pickling inside the user's file work)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module; pass a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def find_class(module: ModuleType, class_name: str, path: Path) -> type:
    found = getattr(module, class_name, None)
    if not isinstance(found, type) or found.__module__ != module.__name__:
        defined = sorted(
            name
            for name, value in vars(module).items()
            if isinstance(value, type) and value.__module__ == module.__name__
        )
        raise LookupError(
            f"class {class_name!r} is not defined in {path} (classes defined there: {defined}); "
            "pass the file that defines the model's class"
        )
    return found


def build_model(model_class: type, spec: ModelSpec, model_dir: Path) -> nn.Module:
    """Construct from the recorded arguments; archive files become paths inside model_dir."""
    arguments = dict(spec.init_args)
    arguments.update({name: str(model_dir / file) for name, file in spec.archive_files.items()})
    model = model_class(**arguments)
    if not isinstance(model, nn.Module):
        raise TypeError(f"{spec.class_name} is a {type(model).__name__}, not a torch.nn.Module")
    return model


def rebuild(model_dir: Path, spec: ModelSpec, module_name: str, weights_file: str) -> nn.Module:
    """The model in eval mode with its safetensors weights loaded strictly."""
    module = load_module(model_dir / spec.model_file, module_name)
    model = build_model(
        find_class(module, spec.class_name, model_dir / spec.model_file), spec, model_dir
    )
    load_model(model, model_dir / weights_file, strict=True)
    return model.eval()
