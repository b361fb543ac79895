"""Run torch-model-archiver with the runtime every archive carries: the ``handlers`` folder.

That folder holds the ``--handler`` entry files and the ``nlp_runtime`` package they import;
``--extra-files handlers`` copies its contents to the archive's root, where the worker imports
them. Nothing lists the runtime's modules one by one.
"""

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from torchserve_nlp.resources import handlers_dir

logger = logging.getLogger(__name__)

HANDLERS = handlers_dir()
RUNTIME_PACKAGE = "nlp_runtime"


def runtime_names() -> set[str]:
    """What the runtime puts at an archive's root (entry files and the package folder)."""
    return {path.name for path in HANDLERS.iterdir() if path.name != "__pycache__"}


def stage_runtime(staging: Path) -> Path:
    """A copy of ``handlers`` without bytecode caches, to pass to ``--extra-files``."""
    return Path(shutil.copytree(
        HANDLERS, staging / HANDLERS.name, ignore=shutil.ignore_patterns("__pycache__")
    ))


def archive_model(
    name: str,
    serialized_file: Path,
    handler: str,
    export_path: Path,
    extra_files: list[Path] | None = None,
    config_file: Path | None = None,
    requirements_file: Path | None = None,
    version: str = "1.0",
) -> Path:
    """Write ``export_path/name.mar`` carrying the runtime; ``handler`` is an entry file's name
    inside ``handlers/``."""
    export_path = Path(export_path)
    export_path.mkdir(parents=True, exist_ok=True)
    extras = [Path(p) for p in extra_files or []]
    for path in [Path(serialized_file), HANDLERS / handler, *extras]:
        if not path.exists():
            raise FileNotFoundError(f"cannot archive {name}: {path} does not exist")
    # torch-model-archiver stages files in $TMPDIR/<model name>/ and deletes it afterwards:
    # builds of one model name at once (tests, make -j, CI beside a developer) would clobber
    # each other's staging, so every run gets a private TMPDIR.
    # The runtime is copied apart from that staging folder, whatever the model is named.
    with (
        tempfile.TemporaryDirectory(prefix=f"archive-{name}-") as staging,
        tempfile.TemporaryDirectory(prefix="runtime-") as runtime_dir,
    ):
        runtime = stage_runtime(Path(runtime_dir))
        command = [
            str(Path(sys.executable).with_name("torch-model-archiver")),
            "--model-name", name, "--version", version,
            "--serialized-file", str(serialized_file),
            "--handler", str(runtime / handler),
            "--extra-files", ",".join(str(p) for p in [runtime, *extras]),
            "--export-path", str(export_path), "--force",
        ]
        if config_file is not None:
            command += ["--config-file", str(config_file)]
        if requirements_file is not None:
            command += ["--requirements-file", str(requirements_file)]
        logger.info("archiving %s: %s", name, " ".join(command))
        subprocess.run(command, check=True, env={**os.environ, "TMPDIR": staging})
    return export_path / f"{name}.mar"


def archive_cli(description: str, build_help: str, archive: Callable[[Path, Path], Path]) -> None:
    """Command line ``<build_dir> [--export-path DIR]`` around ``archive(build_dir, export)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("build_dir", type=Path, help=build_help)
    parser.add_argument(
        "--export-path", type=Path, default=Path("model_store"),
        help="directory to write the .mar into (default: model_store/ in the current directory)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logger.info("wrote %s", archive(args.build_dir, args.export_path))
