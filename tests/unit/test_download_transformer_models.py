"""scripts/download_transformer_models.py: model_name resolution, both save modes, and the
user flow from a setup_config.json to a served archive."""

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from torchserve_nlp.archive.archiver import archive_model
from torchserve_nlp.archive.model_source import (
    PACKAGED_NAMES,
    ModelSourceError,
    SourceKind,
    resolve_model_source,
)
from torchserve_nlp.archive.tracing import features
from torchserve_nlp.archive.transformer_export import (
    Export,
    archiver_command,
    load_model,
    read_setup_config,
)
from torchserve_nlp.data.offline_assets import minilm_dir
from torchserve_nlp.serving.local_archive import LocalArchive, LocalRequest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "download_transformer_models.py"
PACKAGED = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = [
    "I loved every minute of it",
    "hi",
    "The plot was predictable, the acting wooden and the ending frankly insulting.",
    "Café naïve résumé 中文 😀 meh",
]
SEQUENCE_SETUP = {
    "model_name": PACKAGED,
    "mode": "sequence_classification",
    "do_lower_case": True,
    "num_labels": 2,
    "save_mode": "pretrained",
    "max_length": 128,
}


def write_setup(path: Path, **overrides: object) -> Path:
    path.write_text(json.dumps({**SEQUENCE_SETUP, **overrides}), encoding="utf-8")
    return path


def download(setup: Path, out: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command line, run from ``cwd``, with an empty Hugging Face cache."""
    env = {**os.environ, "HF_HUB_CACHE": str(cwd / "empty-hf-cache")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(setup), "--out", out],
        cwd=cwd, capture_output=True, text=True, timeout=900, env=env,
    )


def logged_command(stderr: str) -> list[str]:
    [line] = [ln for ln in stderr.splitlines() if ln.strip().startswith("torch-model-archiver")]
    return shlex.split(line)


@dataclass(frozen=True)
class Downloads:
    cwd: Path
    pretrained: Path
    torchscript: Path
    pretrained_log: str
    torchscript_log: str


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Downloads:
    """The packaged encoder downloaded in pretrained form, then that directory converted to
    torchscript (one head for both), each by the command line, run from a temporary cwd."""
    cwd = tmp_path_factory.mktemp("download")
    first = download(write_setup(cwd / "setup_config.json"), "pretrained", cwd)
    assert first.returncode == 0, first.stderr
    setup = write_setup(cwd / "torchscript.json", model_name="pretrained", save_mode="torchscript")
    second = download(setup, "torchscript", cwd)
    assert second.returncode == 0, second.stderr
    return Downloads(
        cwd, cwd / "pretrained", cwd / "torchscript", first.stderr, second.stderr
    )


# --- model_name resolution ---------------------------------------------------------------


def fake_model_dir(directory: Path, weights: str = "model.safetensors") -> Path:
    directory.mkdir(parents=True)
    (directory / "config.json").write_text("{}")
    (directory / weights).write_bytes(b"")
    return directory


def unused_packaged_dir() -> Path:
    raise AssertionError("the packaged model must not be consulted")


def test_local_directory_is_used_as_is(tmp_path):
    local = fake_model_dir(tmp_path / "my_model")
    source = resolve_model_source(str(local), packaged_dir=unused_packaged_dir)
    assert (source.kind, source.path) == (SourceKind.LOCAL_DIRECTORY, local)


def test_local_directory_without_safetensors_is_refused(tmp_path):
    local = fake_model_dir(tmp_path / "pickled", weights="pytorch_model.bin")
    with pytest.raises(ModelSourceError, match="model.safetensors") as error:
        resolve_model_source(str(local), packaged_dir=unused_packaged_dir)
    assert str(local) in str(error.value)


@pytest.mark.parametrize(
    "name",
    [*PACKAGED_NAMES, "SENTENCE-TRANSFORMERS/ALL-MINILM-L6-V2", "all-minilm-l6-v2"],
)
def test_packaged_names_in_any_case_give_the_offline_minilm(name, tmp_path):
    source = resolve_model_source(name, cache_dir=tmp_path)
    assert (source.kind, source.path) == (SourceKind.PACKAGED, minilm_dir())


def test_name_in_the_local_hf_cache_gives_its_snapshot(tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--someone--tiny-bert"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = fake_model_dir(repo / "snapshots" / commit)
    source = resolve_model_source(
        "someone/tiny-bert", packaged_dir=unused_packaged_dir, cache_dir=tmp_path
    )
    assert (source.kind, source.path) == (SourceKind.HF_CACHE, snapshot)


@pytest.mark.parametrize("name", ["bert-base-uncased", "./no/such/directory"])
def test_unknown_name_fails_with_what_is_accepted(name, tmp_path):
    with pytest.raises(ModelSourceError) as error:
        resolve_model_source(name, packaged_dir=unused_packaged_dir, cache_dir=tmp_path)
    message = str(error.value)
    assert repr(name) in message
    assert "cannot download from the Hugging Face hub" in message
    assert "local directory" in message
    assert all(repr(packaged) in message for packaged in PACKAGED_NAMES)


# --- the archiver command ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "save_mode", "name", "handler"),
    [
        ("question_answering", "pretrained", "BERTQuestionAnswering",
         "question_answering_handler.py"),
        ("token_classification", "torchscript", "BERTTokenClassification_Torchscript",
         "token_classification_handler.py"),
    ],
)
def test_archiver_command_names_the_modes_handler_and_the_runtime(
    tmp_path, mode, save_mode, name, handler
):
    setup = write_setup(tmp_path / "config.json", mode=mode, save_mode=save_mode)
    out = tmp_path / "out"
    serialized = "traced_model.pt" if save_mode == "torchscript" else "model.safetensors"
    export = Export(
        out, out / serialized, (out / "config.json", out / "tokenizer.json"),
        out / "setup_config.json",
    )
    command = archiver_command(read_setup_config(setup), export, cwd=tmp_path)
    arguments = dict(zip(command[1::2], command[2::2], strict=True))
    assert command[0] == "torch-model-archiver"
    assert arguments["--model-name"] == name
    assert arguments["--serialized-file"] == f"out/{serialized}"
    assert arguments["--handler"] == str(REPO_ROOT / "handlers" / handler)
    extras = arguments["--extra-files"].split(",")
    assert extras == [
        str(REPO_ROOT / "handlers"),  # the whole runtime, as one entry
        "out/config.json", "out/tokenizer.json", "out/setup_config.json",
    ]


# --- the command line ----------------------------------------------------------------------


def test_pretrained_output_reloads_with_minilms_tokenizer(downloads):
    files = {p.name for p in downloads.pretrained.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
            "setup_config.json"} <= files
    assert not any(name.endswith((".bin", ".pt")) or name.startswith(".") for name in files)
    assert "UNTRAINED" in downloads.pretrained_log
    assert "scripts/train_sentiment.py" in downloads.pretrained_log
    model = AutoModelForSequenceClassification.from_pretrained(
        downloads.pretrained, use_safetensors=True, local_files_only=True
    )
    assert model.config.num_labels == 2
    config = json.loads((downloads.pretrained / "config.json").read_text())
    assert config["id2label"] == {"0": "LABEL_0", "1": "LABEL_1"}  # the handler reads it
    saved = AutoTokenizer.from_pretrained(downloads.pretrained, local_files_only=True)
    original = AutoTokenizer.from_pretrained(minilm_dir(), local_files_only=True)
    assert saved(TEXTS)["input_ids"] == original(TEXTS)["input_ids"]
    assert json.loads((downloads.pretrained / "setup_config.json").read_text()) == SEQUENCE_SETUP


def test_torchscript_output_gives_the_pretrained_logits(downloads):
    files = {p.name for p in downloads.torchscript.iterdir()}
    assert {"traced_model.pt", "config.json", "tokenizer.json", "tokenizer_config.json",
            "setup_config.json"} <= files
    assert "model.safetensors" not in files
    assert "UNTRAINED" not in downloads.torchscript_log  # the pretrained output has its head
    tokenizer = AutoTokenizer.from_pretrained(downloads.torchscript, local_files_only=True)
    inputs = features(tokenizer, TEXTS)
    assert not bool(inputs[1].all())  # a padded batch
    traced = torch.jit.load(str(downloads.torchscript / "traced_model.pt")).eval()
    model = AutoModelForSequenceClassification.from_pretrained(
        downloads.pretrained, use_safetensors=True, local_files_only=True
    ).eval()
    with torch.no_grad():
        want = model(input_ids=inputs[0], attention_mask=inputs[1], token_type_ids=inputs[2])
        got = traced(*inputs)
    assert got.shape == (len(TEXTS), 2)
    assert float((got - want.logits).abs().max()) <= 1e-4


def test_fresh_head_is_seeded(downloads):
    options = read_setup_config(downloads.cwd / "setup_config.json")
    saved = AutoModelForSequenceClassification.from_pretrained(
        downloads.pretrained, use_safetensors=True, local_files_only=True
    )
    same = load_model(minilm_dir(), options, seed=0)
    other = load_model(minilm_dir(), options, seed=1)
    assert torch.equal(same.classifier.weight, saved.classifier.weight)
    assert not torch.equal(other.classifier.weight, saved.classifier.weight)


def test_num_labels_against_a_trained_head_of_another_size_is_refused(downloads, tmp_path):
    setup = write_setup(tmp_path / "three.json", model_name="pretrained", num_labels=3)
    options = read_setup_config(setup)
    with pytest.raises(ValueError, match="'num_labels' is 3") as error:
        load_model(downloads.pretrained, options, seed=0)
    assert "trained head for 2 labels" in str(error.value)


def serve(mar: Path, work_dir: Path) -> list[dict[str, float]]:
    with LocalArchive.open(mar, work_dir, batch_size=len(TEXTS)) as archive:
        responses = archive.handle([LocalRequest(text, "text/plain") for text in TEXTS])
    assert [r.status for r in responses] == [200] * len(TEXTS)
    return [r.payload for r in responses]


def test_download_archive_and_serve(downloads, tmp_path):
    """pretrained: archived with archive_model; torchscript: with the logged command."""
    model_files = [p for p in downloads.pretrained.iterdir() if p.name != "model.safetensors"]
    pretrained_mar = archive_model(
        "downloaded", downloads.pretrained / "model.safetensors",
        "sequence_classification_handler.py", tmp_path / "store",
        extra_files=model_files,
    )
    command = logged_command(downloads.torchscript_log)
    command[0] = str(Path(sys.executable).with_name("torch-model-archiver"))
    command[command.index("--export-path") + 1] = str(tmp_path / "store")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    subprocess.run(command, cwd=downloads.cwd, check=True, env=env, timeout=600)
    traced_mar = tmp_path / "store" / "BERTSeqClassification_Torchscript.mar"

    answers = serve(pretrained_mar, tmp_path / "pretrained")
    model = AutoModelForSequenceClassification.from_pretrained(
        downloads.pretrained, use_safetensors=True, local_files_only=True
    ).eval()
    tokenizer = AutoTokenizer.from_pretrained(downloads.pretrained, local_files_only=True)
    for text, answer in zip(TEXTS, answers, strict=True):
        with torch.no_grad():  # each text alone: no padding in the reference
            want = model(**tokenizer(text, return_tensors="pt")).logits.softmax(-1)[0]
        assert list(answer) == ["LABEL_0", "LABEL_1"]
        assert list(answer.values()) == pytest.approx(want.tolist(), abs=1e-5)
    for got, want in zip(serve(traced_mar, tmp_path / "traced"), answers, strict=True):
        assert list(got) == list(want)
        assert list(got.values()) == pytest.approx(list(want.values()), abs=1e-5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": "red"}, "unknown configuration key 'colour'"),
        ({"mode": "summarization"}, "'mode' must be one of"),
        ({"model_name": "bert-base-uncased"}, "cannot download from the Hugging Face hub"),
    ],
)
def test_invalid_setup_config_fails_cleanly(tmp_path, overrides, message):
    result = download(write_setup(tmp_path / "setup_config.json", **overrides), "out", tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
