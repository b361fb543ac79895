"""Where the build code finds ``handlers/`` and ``artifacts/``, in a checkout or a wheel.

``handlers/`` is the runtime every archive carries (the ``--handler`` entry files and the
``nlp_runtime`` package); ``artifacts/`` holds each archive's configuration files. The wheel
carries both as package resources of this package, ``torchserve_nlp/resources/handlers`` and
``torchserve_nlp/resources/artifacts`` (pyproject.toml maps them there). A checkout keeps them
at its root, beside ``torchserve_nlp/``, which is where they are found when this package is
imported from a checkout (editable install, or ``pythonpath = "."`` in tests). Either way the
folder is located through ``importlib.resources`` from wherever this package was imported.
"""

import functools
from importlib.resources import files
from pathlib import Path

__all__ = ["artifacts_dir", "handlers_dir"]

HANDLERS = "handlers"
ARTIFACTS = "artifacts"


def handlers_dir() -> Path:
    """The folder archives carry whole: entry files and the ``nlp_runtime`` package."""
    return _folder(HANDLERS)


def artifacts_dir() -> Path:
    """Per-archive files: model-config.yaml, setup_config.json, label maps, sample texts."""
    return _folder(ARTIFACTS)


@functools.cache
def _folder(name: str) -> Path:
    package = files(__name__)
    candidates = [package / name]  # installed from the wheel
    if isinstance(package, Path):
        # A checkout: <root>/torchserve_nlp/resources/ is this package, <root>/<name> the folder.
        candidates.append(package.parent.parent / name)
    for candidate in candidates:
        if candidate.is_dir():
            if not isinstance(candidate, Path):
                # torch-model-archiver copies these folders, so they must be real directories.
                raise RuntimeError(
                    f"{candidate} is not a folder on disk; install torchserve-nlp unzipped "
                    "(as pip does)"
                )
            return candidate.resolve()
    raise FileNotFoundError(
        f"no {name}/ folder: looked in {', '.join(str(c) for c in candidates)}; install "
        "torchserve-nlp from its wheel or run it from a checkout of the repository"
    )
