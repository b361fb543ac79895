"""scripts/compare_runtimes.py: an archive against another runtime, in-process."""

import shutil
from pathlib import Path

import pytest

from scripts import compare_runtimes
from tests.tiny_archive import build_tiny_archive

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"
TEXTS = ["short", "a somewhat longer text", "x", "exactly the same", "four", "five", "six"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return build_tiny_archive(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def bodies(tmp_path) -> Path:
    path = tmp_path / "bodies.txt"
    path.write_text("\n".join(TEXTS))
    return path


def run(capsys, *argv) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        compare_runtimes.main([str(a) for a in argv])
    return exited.value.code, capsys.readouterr().out


def test_the_same_runtime_answers_the_same(archive, bodies, capsys):
    code, out = run(capsys, archive, "--other-handlers", HANDLERS, "--bodies", bodies)
    assert code == 0
    assert f"{len(TEXTS)} answers compared; largest difference 0; 0 mismatches" in out


def test_a_changed_post_processing_is_caught(archive, bodies, tmp_path, capsys):
    changed = Path(shutil.copytree(HANDLERS, tmp_path / "handlers"))
    module = changed / "nlp_runtime" / "postprocess" / "classification.py"
    source = module.read_text()
    module.write_text(source.replace("logits.double(), dim=-1)", "logits.double() * 2, dim=-1)"))
    assert module.read_text() != source
    code, out = run(capsys, archive, "--other-handlers", changed, "--bodies", bodies)
    assert code == 1
    assert f"{2 * len(TEXTS)} mismatches" in out  # both probabilities of every answer
    assert "  [0][1]/Negative: " in out  # the path of a changed probability, with its values


def test_a_folder_without_the_runtime_is_refused(archive, bodies, tmp_path):
    with pytest.raises(ValueError, match="holds no nlp_runtime/"):
        compare_runtimes.main(
            [str(archive), "--other-handlers", str(tmp_path), "--bodies", str(bodies)]
        )
