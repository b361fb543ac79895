"""The build library as a plain (non-editable) wheel: its commands work outside a checkout.

The wheel is built from a copy of the checkout (so the checkout gets no build/ or egg-info)
and installed with ``--no-deps`` into a fresh venv in tmp_path. The dependencies come from
the project's venv through a .pth file that appends its site-packages after the new venv's
own: torchserve_nlp and nlp_runtime resolve to the new venv, and nothing puts the checkout on
``sys.path``. Every command runs from a folder outside the checkout, so the handlers and
artifacts an archive takes can only come from the installed package's resources.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_model

from tests.tiny_archive import LengthClassifier
from tests.tiny_handlers import save_scripted_classifier

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_INPUTS = ("pyproject.toml", "torchserve_nlp", "handlers", "artifacts")
RESOURCES = "torchserve_nlp/resources"
COMMANDS = {
    "torchserve-nlp-download-transformer-models",
    "torchserve-nlp-archive-sequence-classifier",
    "torchserve-nlp-archive-question-answering",
    "torchserve-nlp-archive-token-classifier",
    "torchserve-nlp-archive-scriptable-tokenizer",
    "torchserve-nlp-build-embeddingbag-archive",
    "torchserve-nlp-package-model",
    "torchserve-nlp-bench",
    "torchserve-nlp-wait-until-ready",
    "torchserve-nlp-kserve-layout",
}
TEXTS = ["What a lovely, quiet ride home", "never again", "ok"]
TIMEOUT_S = 180

COUNTER = """
from torch import nn


class Counter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Linear(1, 1)

    def predict_single(self, text: str) -> int:
        return len(text)
"""

# Run by the new venv's python: where the packages come from, and each archive's answers
# through LocalArchive. argv: work dir, JSON [[mar, [texts]], ...]. Prints JSON.
SERVE = """
import json, sys
import nlp_runtime, torchserve_nlp
from torchserve_nlp.resources import artifacts_dir, handlers_dir
from torchserve_nlp.serving.local_archive import LocalArchive, LocalRequest
answers = {}
for mar, texts in json.loads(sys.argv[2]):
    with LocalArchive.open(mar, sys.argv[1], batch_size=len(texts)) as archive:
        responses = archive.handle([LocalRequest(text, "text/plain") for text in texts])
    answers[mar] = [[r.status, r.payload] for r in responses]
print(json.dumps({
    "modules": [torchserve_nlp.__file__, nlp_runtime.__file__],
    "resources": [str(handlers_dir()), str(artifacts_dir())],
    "sys_path": sys.path,
    "answers": answers,
}))
"""

# Every installed torchserve-nlp-* entry point's ``main`` with --help, in one process.
HELP = """
import contextlib, io, json, sys
from importlib.metadata import entry_points
pages = {}
for point in entry_points(group="console_scripts"):
    if not point.name.startswith("torchserve-nlp-"):
        continue
    sys.argv = [point.name, "--help"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            point.load()()
            code = 0
        except SystemExit as exit:
            code = exit.code or 0
    pages[point.name] = [code, out.getvalue()]
print(json.dumps(pages))
"""


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    site_packages: Path
    work: Path  # the current directory of every command: outside the checkout

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *argv: object) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        result = subprocess.run(
            [str(a) for a in argv], cwd=self.work, env=env, capture_output=True, text=True,
            timeout=TIMEOUT_S,
        )
        assert result.returncode == 0, f"{argv} exited {result.returncode}:\n{result.stderr}"
        return result

    def command(self, name: str, *argv: object) -> subprocess.CompletedProcess:
        return self.run(self.venv / "bin" / name, *argv)


def build_wheel(source: Path, dist: Path) -> Path:
    source.mkdir()
    for name in BUILD_INPUTS:
        original = REPO_ROOT / name
        if original.is_dir():
            shutil.copytree(original, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(original, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(dist), str(source)],
        check=True, capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    [wheel] = dist.glob("torchserve_nlp-*.whl")
    return wheel


def install(wheel: Path, venv: Path) -> Path:
    """``wheel`` into a new venv at ``venv``; the project venv's packages visible after it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=TIMEOUT_S)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    site_packages = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, timeout=TIMEOUT_S,
    ).stdout.strip())
    dependencies = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (site_packages / "project_dependencies.pth").write_text("\n".join(sorted(dependencies)))
    # A full install would have put torch-model-archiver's script beside python.
    archiver = Path(sys.executable).with_name("torch-model-archiver")
    _, body = archiver.read_text().split("\n", 1)
    (venv / "bin" / archiver.name).write_text(f"#!{python}\n{body}")
    (venv / "bin" / archiver.name).chmod(0o755)
    return site_packages


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(root / "source", root / "dist")
    site_packages = install(wheel, root / "venv")
    work = root / "work"
    work.mkdir()
    assert not work.resolve().is_relative_to(REPO_ROOT)
    return Installed(wheel, root / "venv", site_packages, work)


def checkout_files(folder: str) -> set[str]:
    root = REPO_ROOT / folder
    return {
        path.relative_to(root).as_posix() for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_wheel_carries_every_package_handlers_and_artifacts(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert not any(name.endswith(".pyc") or "__pycache__" in name for name in names)
    for package, folder in (("torchserve_nlp", "torchserve_nlp"),
                            ("nlp_runtime", "handlers/nlp_runtime")):
        modules = {f"{package}/{name}" for name in checkout_files(folder) if name.endswith(".py")}
        missing = sorted(modules - names)
        assert not missing, f"not in the wheel (add to pyproject.toml packages): {missing}"
    for folder in ("handlers", "artifacts"):
        resources = {f"{RESOURCES}/{folder}/{name}" for name in checkout_files(folder)}
        assert resources <= names, sorted(resources - names)
    assert f"{RESOURCES}/handlers/scripted_text_classifier_handler.py" in names
    assert f"{RESOURCES}/handlers/nlp_runtime/base.py" in names
    assert f"{RESOURCES}/artifacts/scriptable_tokenizer/index_to_name.json" in names


def test_the_console_scripts_are_installed_and_explain_themselves(installed):
    pages = json.loads(installed.run(installed.python, "-c", HELP).stdout)
    assert set(pages) == COMMANDS
    for name, (code, page) in pages.items():
        assert (installed.venv / "bin" / name).is_file()
        assert code == 0, f"{name} --help exited {code}"
        assert page.startswith(f"usage: {name} "), page


def save_counter(folder: Path) -> tuple[Path, Path]:
    """A user model with predict_single (answers len(text)): its file and safetensors."""
    folder.mkdir()
    model_file = folder / "counter.py"
    model_file.write_text(COUNTER)
    spec = importlib.util.spec_from_file_location("counter_for_wheel_install", model_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    save_model(module.Counter(), str(folder / "weights.safetensors"))
    return model_file, folder / "weights.safetensors"


def expected_scripted(texts: list[str]) -> list[dict[str, float]]:
    with torch.no_grad():
        probabilities = LengthClassifier().eval()(texts).softmax(-1)
    return [dict(zip(("Negative", "Positive"), row, strict=True))
            for row in probabilities.tolist()]


def test_archive_package_and_bench_commands_work_outside_the_checkout(installed, tmp_path):
    build = save_scripted_classifier(tmp_path / "sentiment")
    (build / "metrics.json").write_text(json.dumps({"accuracy": 1.0}))
    (build / "index_to_name.json").unlink()  # the archive's label map is the packaged one
    installed.command("torchserve-nlp-archive-scriptable-tokenizer", build)
    scripted = installed.work / "model_store" / "scriptable_tokenizer.mar"  # the default
    with zipfile.ZipFile(scripted) as mar:
        names = set(mar.namelist())
        handler = json.loads(mar.read("MAR-INF/MANIFEST.json"))["model"]["handler"]
    assert handler == "scripted_text_classifier_handler.py"
    assert {handler, "nlp_runtime/__init__.py", "nlp_runtime/base.py", "index_to_name.json",
            "model-config.yaml", "metrics.json"} <= names
    assert {f"nlp_runtime/{name}" for name in checkout_files("handlers/nlp_runtime")} <= names

    model_file, weights = save_counter(tmp_path / "counter")
    (tmp_path / "sample.txt").write_text(TEXTS[0])
    installed.command(
        "torchserve-nlp-package-model", "--name", "counter", "--model-file", model_file,
        "--weights", weights, "--export-path", "store", "--sample-file", tmp_path / "sample.txt",
    )
    counter = installed.work / "store" / "counter.mar"
    with zipfile.ZipFile(counter) as mar:
        assert {"predict_single_handler.py", "nlp_runtime/base.py"} <= set(mar.namelist())

    served = json.loads(installed.run(
        installed.python, "-c", SERVE, tmp_path / "serve",
        json.dumps([[str(scripted), TEXTS], [str(counter), TEXTS]]),
    ).stdout.strip().splitlines()[-1])
    site_packages = installed.site_packages.resolve()
    for path in [*served["modules"], *served["resources"]]:
        assert Path(path).resolve().is_relative_to(site_packages), path
        assert not Path(path).resolve().is_relative_to(REPO_ROOT), path
    # "" is the child's current directory, the work folder.
    on_path = {Path(entry or installed.work).resolve() for entry in served["sys_path"]}
    assert REPO_ROOT not in on_path and installed.work.resolve() in on_path
    scripted_answers = served["answers"][str(scripted)]
    assert [status for status, _ in scripted_answers] == [200] * len(TEXTS)
    for (_, got), want in zip(scripted_answers, expected_scripted(TEXTS), strict=True):
        assert list(got) == list(want)
        assert list(got.values()) == pytest.approx(list(want.values()), abs=1e-6)
    assert served["answers"][str(counter)] == [[200, len(text)] for text in TEXTS]

    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    installed.command(
        "torchserve-nlp-bench", "--model", "scriptable_tokenizer", "--archive", scripted,
        "--texts", texts, "--inprocess-only", "--requests", "6", "--warmup", "2",
        "--json-out", "bench.json",
    )
    figures = json.loads((installed.work / "bench.json").read_text())
    assert figures["in_process"]["ok"] == figures["in_process"]["texts"] == 6
    assert figures["in_process"]["errors"] == {}
