"""Package-time checks: the model's class, its constructor arguments and the archive's
file names, each failing with a PackagingError that says what to change."""

import inspect
import logging
import math
import re
import sys
from pathlib import Path
from typing import Any

from torch import nn

logger = logging.getLogger(__name__)

MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
# Top-level modules a worker already has; a model file of that name would shadow them.
RESERVED_MODULES = {"torch", "ts", "safetensors", "numpy", "yaml", "model_loader"}


class PackagingError(ValueError):
    """The model cannot be packaged as given; the message says why and what to change."""


def constructor_arguments(model: nn.Module, init_args: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON-serialisable keyword arguments that rebuild ``model``'s class."""
    model_class = type(model)
    parameters = list(inspect.signature(model_class.__init__).parameters.values())[1:]
    positional_only = [p.name for p in parameters if p.kind is p.POSITIONAL_ONLY]
    if positional_only:
        raise PackagingError(
            f"{model_class.__name__}.__init__ has positional-only parameters {positional_only}; "
            "make them ordinary parameters so they can be passed by name"
        )
    named = [p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if init_args is None:
        arguments = _arguments_from_attributes(model, named)
    else:
        arguments = dict(init_args)
        _check_argument_names(model_class, arguments, named, parameters)
    for argument, value in arguments.items():
        problem = _json_problem(value, argument)
        if problem:
            raise PackagingError(
                f"constructor argument {argument!r} of {model_class.__name__} cannot be "
                f"recorded as JSON: {problem}. Pass a JSON-serialisable value in init_args "
                "(str, number, bool, None, list, dict with str keys), or ship the data as "
                "a file in extra_files and pass its path"
            )
    return arguments


def _arguments_from_attributes(model: nn.Module, named: list[inspect.Parameter]) -> dict:
    missing = [p.name for p in named if not hasattr(model, p.name)]
    if missing:
        raise PackagingError(
            f"cannot tell how {type(model).__name__} was constructed: it has no attribute "
            f"named like the __init__ parameters {missing}. Store each as self.<name> in "
            "__init__, or pass init_args={...} to package_model"
        )
    return {p.name: getattr(model, p.name) for p in named}


def _check_argument_names(
    model_class: type, arguments: dict, named: list[inspect.Parameter], all_parameters: list
) -> None:
    known = {p.name for p in named}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in all_parameters)
    unknown = sorted(set(arguments) - known) if not takes_any else []
    required = [p.name for p in named if p.default is p.empty and p.name not in arguments]
    if unknown or required:
        raise PackagingError(
            f"init_args do not match {model_class.__name__}.__init__{_signature(model_class)}: "
            f"unknown {unknown}, missing required {required}"
        )


def _signature(model_class: type) -> str:
    return str(inspect.signature(model_class.__init__))


def _json_problem(value: Any, where: str) -> str | None:
    """Why ``value`` would not survive a JSON round trip, naming the offending part."""
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where} is {value}, which JSON cannot hold"
    if isinstance(value, Path):
        return None  # allowed only as an archive file; checked against extra_files
    if isinstance(value, (list, tuple)):
        return next(
            (p for i, item in enumerate(value) if (p := _json_problem(item, f"{where}[{i}]"))),
            None,
        )
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has the non-string key {key!r}"
            problem = _json_problem(item, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    return f"{where} is a {type(value).__module__}.{type(value).__qualname__}"


def archive_file_arguments(arguments: dict[str, Any], extras: list[Path]) -> dict[str, str]:
    by_location = {path.resolve(): path.name for path in extras}
    archive_files = {}
    for argument, value in arguments.items():
        if not isinstance(value, (str, Path)) or not str(value):
            continue
        try:
            location = Path(value).resolve()
            names_a_file = location.is_file()
        except (OSError, ValueError):  # text that cannot be a path: too long, NUL bytes
            continue
        if location in by_location:
            archive_files[argument] = by_location[location]
        elif isinstance(value, Path):
            raise PackagingError(
                f"constructor argument {argument!r} is the path {value}, which is not one of "
                "extra_files; add the file to extra_files so the archive carries it"
            )
        elif names_a_file:
            logger.warning(
                "constructor argument %r names the file %s, which is not in extra_files; "
                "the archive will record the path only, not the file",
                argument,
                value,
            )
    return archive_files


def check_name(name: str) -> None:
    if not MODEL_NAME_PATTERN.match(name):
        raise PackagingError(
            f"model name {name!r} is not allowed by TorchServe; use letters, digits, '_', "
            "'-' and '.', starting with a letter or digit"
        )


def check_files(
    model_file: Path,
    extras: list[Path],
    requirements_file: str | Path | None,
    archive_names: set[str],
) -> None:
    """Files exist, the model file can be a module, and no name clashes with
    ``archive_names`` (what the archive already holds) or with another file."""
    for path in [model_file, *extras, *([Path(requirements_file)] if requirements_file else [])]:
        if not path.is_file():
            raise PackagingError(f"{path} is not a file; pass an existing file")
    if model_file.suffix != ".py" or not model_file.stem.isidentifier():
        raise PackagingError(
            f"model file {model_file} must be a .py file named like a Python module"
        )
    if model_file.stem in RESERVED_MODULES or model_file.stem in sys.stdlib_module_names:
        raise PackagingError(
            f"model file {model_file.name} would shadow the module {model_file.stem!r} in "
            "the TorchServe worker; rename it"
        )
    taken = set(archive_names)
    for path in [model_file, *extras]:
        if path.name in taken:
            raise PackagingError(
                f"{path} would be stored as {path.name!r}, a name the archive already uses "
                f"for another file; rename it (archive files are stored flat, by name)"
            )
        taken.add(path.name)


def check_predict_single(model_class: type) -> type:
    method = getattr(model_class, "predict_single", None)
    if not callable(method):
        raise PackagingError(
            f"{model_class.__name__} has no predict_single method; define "
            "`def predict_single(self, item)` returning a JSON-serialisable result"
        )
    parameters = list(inspect.signature(method).parameters.values())[1:]
    required = [
        p
        for p in parameters
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if not parameters or len(required) > 1:
        raise PackagingError(
            f"{model_class.__name__}.predict_single{inspect.signature(method)} must take "
            "exactly one input besides self"
        )
    return model_class
