"""Choosing and loading a CPU runtime: physical cores and threads, native bf16 detection, the
bf16 archive on a CPU without it, onnxruntime imported only by ONNX archives, and what an
explanation request gets from an archive without the eager model."""

import json
import logging
import os
import subprocess
import sys

import pytest
import torch
from sequence_classification_handler import SequenceClassificationHandler

from nlp_runtime.hf import cpu
from nlp_runtime.hf.model import eager_required
from tests.runtime_models import SERIALIZED, load, runtime_dir, tiny_classifier
from tests.torchserve_process import REPO_ROOT
from tests.worker_context import WorkerContext
from torchserve_nlp.serving.local_archive import ProcessSettings


def fake_topology(root, cores: dict[int, tuple[int, int]]):
    for number, (package, core) in cores.items():
        topology = root / f"cpu{number}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    return root


def test_hyper_threads_of_one_core_count_once(tmp_path):
    # Two packages; cpus 0/4, 1/5 share cores of package 0; 2, 3 are package 1's cores 0, 1.
    root = fake_topology(tmp_path, {0: (0, 0), 4: (0, 0), 1: (0, 1), 5: (0, 1),
                                    2: (1, 0), 3: (1, 1)})
    assert cpu.physical_cores([0, 1, 2, 3, 4, 5], root) == 4
    assert cpu.physical_cores([0, 4], root) == 1  # an affinity of one core's two threads
    assert cpu.physical_cores([0, 2], root) == 2  # core 0 of each package
    assert 1 <= cpu.physical_cores([0, 9], root) <= 2  # no topology for cpu9: a fallback


def test_worker_threads_are_the_workers_share_unless_configured(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu, "physical_cores", lambda: 8)
    monkeypatch.setattr(cpu, "quota_cpus", lambda: None)
    assert [cpu.worker_threads(None, w) for w in (1, 2, 3, 16)] == [8, 4, 2, 1]
    assert cpu.worker_threads(5, 3) == 5
    monkeypatch.setattr(cpu, "quota_cpus", lambda: 3)  # e.g. a Kubernetes limit of 2.5 CPUs
    assert [cpu.worker_threads(None, w) for w in (1, 2, 4)] == [3, 1, 1]


@pytest.mark.parametrize(("omp", "threads"), [("1", [1, 1]), ("6", [6, 4]), ("0", [8, 4]),
                                              ("two", [8, 4]), ("", [8, 4])])
def test_omp_num_threads_caps_the_default_share_but_not_a_configured_count(
    monkeypatch, omp, threads
):
    monkeypatch.setenv("OMP_NUM_THREADS", omp)
    monkeypatch.setattr(cpu, "physical_cores", lambda: 8)
    monkeypatch.setattr(cpu, "quota_cpus", lambda: None)
    assert [cpu.worker_threads(None, w) for w in (1, 2)] == threads
    assert cpu.worker_threads(5, 1) == 5


@pytest.mark.parametrize(
    ("files", "cpus"),
    [
        ({"cpu.max": "250000 100000\n"}, 3),  # cgroup v2, 2.5 CPUs
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu.max": "50000 100000\n"}, 1),  # half a CPU: still one thread
        ({}, None),
    ],
)
def test_the_cgroup_cpu_quota_caps_the_threads(tmp_path, files, cpus):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cpu.quota_cpus(tmp_path) == cpus


@pytest.mark.parametrize(
    ("cpuinfo", "native"),
    [
        ("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni\n", True),
        ("processor\t: 0\nflags\t\t: fpu sse avx2 amx_bf16 amx_tile\n", True),
        ("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw avx512_vnni\n", False),
        ("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n", True),  # Arm
        ("processor\t: 0\nFeatures\t: fp asimd\n", False),
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, cpuinfo, native):
    (tmp_path / "cpuinfo").write_text(cpuinfo)
    assert cpu.native_bf16(tmp_path / "cpuinfo") is native
    assert cpu.cpu_flags(tmp_path / "missing") == frozenset()


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("runtimes")
    pretrained = tiny_classifier(base / "pretrained")
    return {"pretrained": pretrained, **{
        mode: runtime_dir(pretrained, mode, base / mode) for mode in ("onnx_int8", "bf16")
    }}


def handler_for(model_dir, save_mode: str, name: str = "test_model"):
    handler = SequenceClassificationHandler()
    context = WorkerContext(model_dir, {}, serialized_file=SERIALIZED[save_mode], model_name=name)
    handler.initialize(context)
    return handler


def predict(handler, model_dir, bodies: list[dict]) -> tuple[list, dict]:
    json_type = {"Content-Type": "application/json"}
    context = WorkerContext(model_dir, headers={i: json_type for i in range(len(bodies))})
    answers = handler.handle([{"body": json.dumps(b).encode()} for b in bodies], context)
    return [json.loads(a) if isinstance(a, (str, bytes)) else a for a in answers], context.statuses


def test_bf16_archive_on_a_cpu_without_native_bf16_serves_and_says_it_is_slower(
    tiny_dirs, monkeypatch, caplog
):
    texts = [{"data": "what a lovely day"}, {"data": "never again"}]
    fp32, _ = predict(handler_for(tiny_dirs["pretrained"], "pretrained"),
                      tiny_dirs["pretrained"], texts)
    monkeypatch.setattr(cpu, "native_bf16", lambda cpuinfo=None: False)
    with caplog.at_level(logging.WARNING, logger="nlp_runtime.hf.model"):
        handler = handler_for(tiny_dirs["bf16"], "bf16")
    assert "without native bf16" in caplog.text and "slower than fp32" in caplog.text
    got, statuses = predict(handler, tiny_dirs["bf16"], texts)
    assert statuses == {}
    for want, answer in zip(fp32, got, strict=True):
        assert list(answer) == list(want)
        assert all(answer[k] == pytest.approx(want[k], abs=0.02) for k in want)
    caplog.clear()
    monkeypatch.setattr(cpu, "native_bf16", lambda cpuinfo=None: True)
    with caplog.at_level(logging.WARNING, logger="nlp_runtime.hf.model"):
        handler_for(tiny_dirs["bf16"], "bf16")
    assert "native bf16" not in caplog.text


def test_onnx_threads_default_to_the_workers_share_of_physical_cores(
    tiny_dirs, monkeypatch, caplog
):
    monkeypatch.setattr(cpu, "physical_cores", lambda: 6)
    with caplog.at_level(logging.INFO, logger="nlp_runtime.hf.onnx_runtime"):
        load(tiny_dirs["onnx_int8"], "onnx_int8", {"minWorkers": 2})
    assert "with 3 intra-op threads" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="nlp_runtime.hf.onnx_runtime"):
        load(tiny_dirs["onnx_int8"], "onnx_int8", {"handler": {"intra_op_threads": 1}})
    assert "with 1 intra-op threads" in caplog.text


def test_onnx_archive_refuses_integrated_gradients_naming_the_archive_and_offers_shap(
    tiny_dirs,
):
    handler = handler_for(tiny_dirs["onnx_int8"], "onnx_int8", "BERTSeqClassification_onnx_int8")
    answers, statuses = predict(handler, tiny_dirs["onnx_int8"], [
        {"data": "what a lovely day", "explain": True},
        {"data": "what a lovely day", "explain": {"method": "shap", "max_evals": 20}},
        {"data": "what a lovely day"},
    ])
    assert statuses == {0: 400}
    assert "ask BERTSeqClassification (its save_mode pretrained form)" in answers[0]["message"]
    assert answers[1]["explanation"]["method"] == "shap"
    assert answers[1]["prediction"] == answers[2]


@pytest.mark.parametrize(
    ("archive", "names"),
    [("BERTQuestionAnswering_onnx_int8", "ask BERTQuestionAnswering "),
     ("BERTSeqClassification_onnx", "ask BERTSeqClassification "),
     ("BERTTokenClassification_Torchscript", "ask BERTTokenClassification "),
     ("this archive", "save_mode pretrained or bf16")],
)
def test_eager_required_names_every_mode_without_gradients(archive, names):
    error = eager_required(archive)
    assert error.status == 400 and names in error.message
    assert all(m in error.message for m in ("TorchScript", "onnx", "onnx_int8", "shap"))


def test_only_onnx_archives_need_onnxruntime(tiny_dirs):
    """With onnxruntime not importable (TorchServe's base handler tries it and carries on),
    a pretrained archive loads; an ONNX archive fails saying what to install."""
    code = (
        "import sys; sys.path[:0] = ['handlers', '.']\n"
        "sys.modules['onnxruntime'] = None  # as if it were not installed\n"
        "from pathlib import Path\n"
        "from tests.runtime_models import load\n"
        "from sequence_classification_handler import SequenceClassificationHandler\n"
        f"load(Path({str(tiny_dirs['pretrained'])!r}), 'pretrained')\n"
        "try:\n"
        f"    load(Path({str(tiny_dirs['onnx_int8'])!r}), 'onnx_int8')\n"
        "except ImportError as error:\n"
        "    assert 'install onnxruntime' in str(error), error\n"
        "else:\n"
        "    raise AssertionError('an ONNX archive loaded without onnxruntime')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_an_onnx_archive_leaves_the_cores_to_onnx_runtime_and_the_settings_go_back(
    tiny_dirs, monkeypatch
):
    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    torch.set_num_threads(2)
    before = ProcessSettings.now()
    load(tiny_dirs["pretrained"], "pretrained")
    assert torch.get_num_threads() == 2 and "TOKENIZERS_PARALLELISM" not in os.environ
    load(tiny_dirs["onnx_int8"], "onnx_int8")
    assert torch.get_num_threads() == 1 and os.environ["TOKENIZERS_PARALLELISM"] == "false"
    before.restore()
    assert torch.get_num_threads() == 2 and "TOKENIZERS_PARALLELISM" not in os.environ
