"""Run torch-model-archiver with the handler support modules every archive needs."""

import argparse
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
HANDLERS = REPO_ROOT / "handlers"
# Modules the handlers import; they sit flat beside the handler inside the archive.
HANDLER_SUPPORT_FILES = ("batch_handler_base.py", "text_request.py", "explain_request.py")


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
    """Write ``export_path/name.mar``; ``handler`` is a file name inside ``handlers/``."""
    export_path = Path(export_path)
    export_path.mkdir(parents=True, exist_ok=True)
    extras = [HANDLERS / f for f in HANDLER_SUPPORT_FILES] + [Path(p) for p in extra_files or []]
    for path in [Path(serialized_file), HANDLERS / handler, *extras]:
        if not path.exists():
            raise FileNotFoundError(f"cannot archive {name}: {path} does not exist")
    command = [
        str(Path(sys.executable).with_name("torch-model-archiver")),
        "--model-name", name, "--version", version,
        "--serialized-file", str(serialized_file),
        "--handler", str(HANDLERS / handler),
        "--extra-files", ",".join(str(p) for p in extras),
        "--export-path", str(export_path), "--force",
    ]
    if config_file is not None:
        command += ["--config-file", str(config_file)]
    if requirements_file is not None:
        command += ["--requirements-file", str(requirements_file)]
    logger.info("archiving %s: %s", name, " ".join(command))
    # torch-model-archiver stages files in $TMPDIR/<model name>/ and deletes it afterwards:
    # builds of one model name at once (tests, make -j, CI beside a developer) would clobber
    # each other's staging, so every run gets a private TMPDIR.
    with tempfile.TemporaryDirectory(prefix=f"archive-{name}-") as staging:
        subprocess.run(command, check=True, env={**os.environ, "TMPDIR": staging})
    return export_path / f"{name}.mar"


def archive_cli(description: str, build_help: str, archive: Callable[[Path, Path], Path]) -> None:
    """Command line ``<build_dir> [--export-path DIR]`` around ``archive(build_dir, export)``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("build_dir", type=Path, help=build_help)
    parser.add_argument("--export-path", type=Path, default=REPO_ROOT / "model_store")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logger.info("wrote %s", archive(args.build_dir, args.export_path))
