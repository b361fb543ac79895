"""Every archive carries the whole runtime, however it was built.

* The ``torch-model-archiver`` commands printed in README.md and docs/ are run as written
  (in a folder laid out like the repository, with quick or tiny models where they name
  build outputs); each archive they make is loaded by TorchServe's own loader and answers a
  request as the model does.
* Every kind of archive the build code makes, unpacked into a folder, imports its handler
  with nothing but that folder and site-packages on ``sys.path``, and every module of the
  runtime it loads comes from that folder.
"""

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from scripts import (
    archive_question_answering,
    archive_sequence_classifier,
    archive_token_classifier,
)
from tests.ner_models import save_tiny_ner
from tests.oracles import eager_classifier_logits
from tests.qa_models import random_qa_model
from tests.tiny_archive import build_tiny_archive
from tests.tiny_handlers import save_tiny_classifier
from torchserve_nlp.archive.archiver import HANDLERS, RUNTIME_PACKAGE
from torchserve_nlp.archive.packaging import package_model
from torchserve_nlp.serving.local_archive import LocalArchive, LocalRequest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
ARCHIVER = re.compile(r"^(?:\.venv/bin/)?torch-model-archiver .*?(?<!\\)$", re.M | re.S)
TEXT = "What a lovely, quiet ride home"


def documented_commands() -> list[tuple[str, list[str]]]:
    """(document, argv) of every torch-model-archiver command shown in the docs."""
    found = []
    for document in DOCUMENTS:
        for match in ARCHIVER.finditer(document.read_text(encoding="utf-8")):
            argv = shlex.split(match[0].replace("\\\n", " "))
            found.append((f"{document.name}:{argv[argv.index('--model-name') + 1]}", argv))
    return found


COMMANDS = documented_commands()


def test_the_docs_show_the_commands_this_test_runs():
    assert sorted(name for name, _ in COMMANDS) == [
        "README.md:scriptable_tokenizer", "download_transformer_models.md:BERTSeqClassification",
    ]
    for _, argv in COMMANDS:
        extras = argv[argv.index("--extra-files") + 1].split(",")
        assert extras[0] == "handlers"  # the runtime, as one entry
        assert not any(extra.endswith(".py") for extra in extras)


@pytest.fixture(scope="module")
def tiny_pretrained(tmp_path_factory) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("Transformer_model"))


def lay_out_repository(cwd: Path, build_dirs: dict[str, Path]) -> None:
    """``cwd`` as the docs expect the repository: handlers/, artifacts/, and the build
    folders the commands name (each a link to a test-built model)."""
    for name in ("handlers", "artifacts"):
        (cwd / name).symlink_to(REPO_ROOT / name)
    for relative, source in build_dirs.items():
        (cwd / relative).parent.mkdir(parents=True, exist_ok=True)
        (cwd / relative).symlink_to(source)


def run_documented(argv: list[str], cwd: Path) -> Path:
    argv = [str(Path(sys.executable).with_name("torch-model-archiver")), *argv[1:]]
    export = cwd / argv[argv.index("--export-path") + 1]
    export.mkdir(parents=True, exist_ok=True)
    subprocess.run(argv, cwd=cwd, check=True, env={**os.environ, "TMPDIR": str(cwd)},
                   timeout=300)
    return export / f"{argv[argv.index('--model-name') + 1]}.mar"


def answer(mar: Path, work: Path) -> dict:
    with LocalArchive.open(mar, work) as archive:
        [response] = archive.handle([LocalRequest(TEXT, "text/plain")])
    assert response.status == 200, response.payload
    return response.payload


@pytest.mark.parametrize(("name", "argv"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_documented_command_builds_an_archive_that_answers(
    name, argv, tmp_path, quick_sentiment_dir, tiny_pretrained
):
    lay_out_repository(tmp_path, {"build/sentiment": quick_sentiment_dir,
                                  "Transformer_model": tiny_pretrained})
    got = answer(run_documented(argv, tmp_path), tmp_path / "work")
    if name.endswith("scriptable_tokenizer"):
        expected = eager_classifier_logits(quick_sentiment_dir, [TEXT], 128).softmax(-1)[0]
    else:
        model = AutoModelForSequenceClassification.from_pretrained(tiny_pretrained).eval()
        tokenizer = AutoTokenizer.from_pretrained(tiny_pretrained)
        with torch.no_grad():
            expected = model(**tokenizer(TEXT, return_tensors="pt")).logits.softmax(-1)[0]
    assert list(got) == ["Negative", "Positive"]
    assert list(got.values()) == pytest.approx(expected.tolist(), abs=1e-5)


# --- every kind of archive imports from its own folder ---------------------------------------

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
handler = __import__(sys.argv[2])
runtime = {name: m.__file__ for name, m in sys.modules.items()
           if name.split(".")[0] in json.loads(sys.argv[3]) and getattr(m, "__file__", None)}
print(json.dumps(runtime))
"""


USER_MODEL = """
from torch import nn


class Counter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Linear(1, 1)

    def predict_single(self, text: str) -> int:
        return len(text)
"""


def package_user_model(root: Path, store: Path) -> Path:
    root.mkdir(parents=True)
    model_file = root / "counter.py"
    model_file.write_text(USER_MODEL)
    spec = importlib.util.spec_from_file_location("counter_for_packaging", model_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return package_model("counter", module.Counter(), model_file, store)


def built_archives(root: Path) -> dict[str, Path]:
    store = root / "store"
    ner = save_tiny_ner(root / "ner", model_name="tiny", mode="token_classification")
    qa = random_qa_model(root / "qa")
    return {
        "scripted": build_tiny_archive(root / "scripted"),
        "sequence": archive_sequence_classifier.archive(
            save_tiny_classifier(root / "seq" / "pretrained").parent, store,
            setup_config=root / "seq" / "pretrained" / "setup_config.json"),
        "question_answering": archive_question_answering.archive(
            qa, store, setup_config=qa / "setup_config.json"),
        "token_classification": archive_token_classifier.archive(
            ner, store, setup_config=ner / "setup_config.json"),
        "predict_single": package_user_model(root / "user", store),
    }


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    return built_archives(tmp_path_factory.mktemp("archives"))


@pytest.mark.parametrize("kind", ["scripted", "sequence", "question_answering",
                                  "token_classification", "predict_single"])
def test_unpacked_archive_imports_its_handler_from_its_own_folder(archives, kind, tmp_path):
    with zipfile.ZipFile(archives[kind]) as mar:
        mar.extractall(tmp_path)
        manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))
    handler = Path(manifest["model"]["handler"]).stem
    top_level = sorted({p.stem for p in HANDLERS.glob("*.py")} | {RUNTIME_PACKAGE})
    # -I: no PYTHONPATH, no user site, not the current directory; site-packages stays.
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(tmp_path), handler, json.dumps(top_level)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert handler in loaded and f"{RUNTIME_PACKAGE}.base" in loaded
    outside = {name: path for name, path in loaded.items()
               if not Path(path).resolve().is_relative_to(tmp_path.resolve())}
    assert outside == {}


def test_only_the_base_imports_torchserve_and_wire_modules_load_without_it():
    runtime = HANDLERS / RUNTIME_PACKAGE
    importers = sorted(
        path.relative_to(HANDLERS).as_posix() for path in runtime.rglob("*.py")
        if re.search(r"^\s*(from|import) ts\b", path.read_text(encoding="utf-8"), re.M)
    )
    assert importers == [f"{RUNTIME_PACKAGE}/base.py"]
    plain = ["errors", *(f"wire.{p.stem}" for p in (runtime / "wire").glob("[!_]*.py"))]
    probe = (
        "import importlib, sys\n"
        "sys.modules['ts'] = None  # any import of TorchServe now fails\n"
        f"for name in {plain!r}:\n"
        f"    importlib.import_module('{RUNTIME_PACKAGE}.' + name)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=HANDLERS, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(plain) >= 6
