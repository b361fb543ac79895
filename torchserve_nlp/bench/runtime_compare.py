"""Do two handler runtimes answer the same? One archive, served in-process twice: as built,
and with its runtime (the entry files and ``nlp_runtime``) replaced by another ``handlers/``
folder, for example a checkout of an older commit. Every body goes through both in batches of
the archive's batchSize; the answers are compared, floats within a tolerance."""

import json
import logging
import math
import shutil
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchserve_nlp.serving.local_archive import LocalArchive, LocalRequest, unpack

logger = logging.getLogger(__name__)
RUNTIME_PACKAGE = "nlp_runtime"


@dataclass(frozen=True)
class Comparison:
    answers: int
    max_difference: float
    mismatches: list[str]  # "<request>/<path>: <ours> != <theirs>"


def with_runtime(mar: Path, handlers: Path, out: Path) -> Path:
    """A copy of ``mar`` whose runtime is ``handlers``' entry files and nlp_runtime package."""
    if not (handlers / RUNTIME_PACKAGE).is_dir():
        raise ValueError(f"{handlers} holds no {RUNTIME_PACKAGE}/: pass a handlers/ folder")
    unpacked = unpack(mar, out / "unpacked")
    shutil.rmtree(unpacked / RUNTIME_PACKAGE, ignore_errors=True)
    for path in handlers.iterdir():
        if path.name == "__pycache__":
            continue
        if path.is_dir():
            shutil.copytree(path, unpacked / path.name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, unpacked / path.name)
    swapped = out / mar.name
    with zipfile.ZipFile(swapped, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(unpacked.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(unpacked).as_posix())
    return swapped


def answers(mar: Path, requests: Sequence[LocalRequest], work_dir: Path) -> list[Any]:
    """(status, payload) of every request, served in the archive's batches."""
    with LocalArchive.open(mar, work_dir) as archive:
        found = []
        for start in range(0, len(requests), archive.batch_size):
            batch = archive.handle(list(requests[start:start + archive.batch_size]))
            found += [[response.status, response.payload] for response in batch]
    return found


def compare(ours: list[Any], theirs: list[Any], tolerance: float) -> Comparison:
    differences = list(_differences(ours, theirs, ""))
    worst = max((d for _, d in differences if d is not None), default=0.0)
    mismatches = [path for path, d in differences if d is None or d > tolerance]
    return Comparison(len(ours), worst, mismatches)


def _differences(a: Any, b: Any, path: str) -> Iterator[tuple[str, float | None]]:
    """(description, |a - b|) for every pair of numbers; (description, None) where they
    differ otherwise."""
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or a is None:
        if a != b:
            yield f"{path}: {json.dumps(a)[:80]} != {json.dumps(b)[:80]}", None
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        difference = abs(a - b) if math.isfinite(a - b) else math.inf
        yield f"{path}: {a!r} != {b!r}", difference
    elif isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            yield f"{path}: keys {list(a)} != {list(b)}", None
            return
        for key in a:
            yield from _differences(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield f"{path}: {len(a)} items != {len(b)}", None
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _differences(x, y, f"{path}[{i}]")
    else:
        yield f"{path}: {type(a).__name__} != {type(b).__name__}", None


def read_requests(path: Path, json_lines: bool, explain: bool) -> list[LocalRequest]:
    """One request per non-empty line: text, or a JSON body with ``json_lines``; sent to
    /explanations with ``explain``."""
    headers = {"explain": "True"} if explain else {}
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if json_lines:
        return [LocalRequest(json.loads(line), headers=headers) for line in lines]
    return [LocalRequest(line.encode(), "text/plain", headers) for line in lines]
