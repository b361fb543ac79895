"""Archiving through torch-model-archiver."""

import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from torchserve_nlp.archive.archiver import HANDLERS, archive_model


def build(tmp_path, index: int):
    """One archive named 'same' whose payload differs by ``index``."""
    source = tmp_path / f"source{index}"
    source.mkdir()
    weights = source / "weights.bin"
    weights.write_bytes(bytes([index]) * 4096)
    label = source / "label.txt"
    label.write_text(f"build {index}")
    mar = archive_model(
        "same", weights, "scripted_text_classifier_handler.py", tmp_path / f"store{index}",
        extra_files=[label],
    )
    return index, mar


def test_concurrent_builds_of_one_model_name_do_not_mix(tmp_path):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: build(tmp_path, i), range(4)))
    for index, mar in results:
        with zipfile.ZipFile(mar) as archive:
            names = set(archive.namelist())
            assert {"weights.bin", "label.txt"} <= names
            assert_carries_the_runtime(names)
            assert archive.read("label.txt").decode() == f"build {index}"
            assert archive.read("weights.bin") == bytes([index]) * 4096


def assert_carries_the_runtime(names: set[str]) -> None:
    """Every file of handlers/ (entry files and the nlp_runtime package) at the archive's
    root, and no bytecode cache."""
    runtime = {
        path.relative_to(HANDLERS).as_posix() for path in HANDLERS.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert "nlp_runtime/base.py" in runtime and "nlp_runtime/wire/text.py" in runtime
    assert runtime <= names, sorted(runtime - names)
    assert not any("__pycache__" in name for name in names)


def test_missing_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.bin does not exist"):
        archive_model("x", tmp_path / "nothing.bin", "scripted_text_classifier_handler.py",
                      tmp_path / "store")


def test_another_builds_staging_folder_is_left_alone(tmp_path, monkeypatch):
    # torch-model-archiver stages in $TMPDIR/<model name>/ and deletes whatever is there.
    shared_tmp = tmp_path / "shared-tmp"
    in_progress = shared_tmp / "same"
    in_progress.mkdir(parents=True)
    (in_progress / "other-build.bin").write_bytes(b"staged by a concurrent build")
    monkeypatch.setenv("TMPDIR", str(shared_tmp))
    _, mar = build(tmp_path, 7)
    assert (in_progress / "other-build.bin").read_bytes() == b"staged by a concurrent build"
    assert zipfile.ZipFile(mar).read("label.txt").decode() == "build 7"


def test_a_model_named_like_the_runtime_folder_still_carries_it(tmp_path):
    # torch-model-archiver stages in $TMPDIR/<model name>/, wiping what is there.
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\0" * 16)
    mar = archive_model("handlers", weights, "scripted_text_classifier_handler.py",
                        tmp_path / "store")
    with zipfile.ZipFile(mar) as archive:
        assert_carries_the_runtime(set(archive.namelist()))
