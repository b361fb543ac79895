"""The accuracy gates of derived archives: the rule per save mode (pure functions), and the
build refusing, or with the flag accepting, an archive that loses too much."""

import json
import zipfile

import pytest

from torchserve_nlp.archive import accuracy_gates, derived_archives
from torchserve_nlp.archive.accuracy_gates import GateFailure, check_gate, gate_record
from torchserve_nlp.archive.derived_archives import GateOptions, archive_derived
from torchserve_nlp.archive.transformer_archives import TASKS
from torchserve_nlp.data.held_out import HeldOut, LabelledText
from torchserve_nlp.metrics.archive_eval import Score


def gate(save_mode, reference, derived, units=1000, accept=False):
    return check_gate("M_" + save_mode, save_mode, "accuracy", reference, derived, units,
                      "tweets", accept)


@pytest.mark.parametrize(
    ("save_mode", "derived", "passes"),
    [
        ("bf16", 0.900, True), ("bf16", 0.898, True), ("bf16", 0.8979, False),
        ("bf16", 0.95, True),  # a gain is no loss
        ("onnx_int8", 0.895, True), ("onnx_int8", 0.8949, False),
        ("onnx", 0.901, True), ("onnx", 0.899, True),  # one of 1000 tweets either way
        ("onnx", 0.8985, False), ("onnx", 0.902, False),  # onnx may not gain either
    ],
)
def test_each_save_mode_may_move_the_metric_so_far(save_mode, derived, passes):
    if passes:
        assert gate(save_mode, 0.900, derived).passed
    else:
        with pytest.raises(GateFailure):
            gate(save_mode, 0.900, derived)


def test_onnx_noise_is_one_example_of_the_held_out_set():
    assert gate("onnx", 0.5, 0.5 + 1 / 264, units=264).passed
    with pytest.raises(GateFailure):
        gate("onnx", 0.5, 0.5 + 1.5 / 264, units=264)


def test_the_failing_message_names_the_figures_the_rule_and_the_flag():
    with pytest.raises(GateFailure) as failure:
        check_gate("BERTQuestionAnswering_onnx_int8", "onnx_int8", "f1", 0.7320, 0.7201, 264,
                   "questions")
    message = str(failure.value)
    for part in ("BERTQuestionAnswering_onnx_int8", "held-out f1 0.7201", "0.7320",
                 "264 questions", "lost 1.19 points", "0.5 points", "Not built",
                 "--accept-metric-loss"):
        assert part in message, (part, message)
    with pytest.raises(GateFailure, match="moved 0.2 points, more than the noise"):
        check_gate("X_onnx", "onnx", "accuracy", 0.900, 0.902, 1000, "tweets")


def test_the_flag_accepts_a_loss_and_the_record_says_so():
    result = gate("onnx_int8", 0.900, 0.880, accept=True)
    assert not result.passed and result.accepted
    record = gate_record(result, {"n": 1})
    assert record == {
        "save_mode": "onnx_int8", "metric": "accuracy", "held_out": "1000 tweets",
        "pretrained": 0.9, "onnx_int8": 0.88, "change_points": -2.0,
        "allowed": "a loss of at most 0.5 points", "passed": False,
        "accepted_with_flag": True, "details": {"n": 1},
    }
    assert gate_record(gate("onnx", 0.9, 0.9))["allowed"] == (
        "within 0.1 points either way (one of 1000)"
    )


def test_no_gate_for_other_save_modes():
    with pytest.raises(ValueError, match="no accuracy gate"):
        accuracy_gates.allowed_change("torchscript", 10)


@pytest.fixture()
def scored(monkeypatch):
    """A held-out set of four tweets and scores set by the test (the fp32 archive's, the
    derived one's), instead of scoring the tiny random model."""
    scores = {}
    held = HeldOut("sequence_classification", tuple(LabelledText(t, 1) for t in "abcd"), "test")
    monkeypatch.setattr(derived_archives, "held_out_set", lambda mode, path: held)
    monkeypatch.setattr(derived_archives, "_REFERENCES", {})

    def evaluate(mar, held_out, work_dir):
        if "reference" in str(mar):
            value = scores["fp32"]
        else:  # a list: one score per derived archive built, in turn
            derived = scores["derived"]
            value = derived.pop(0) if isinstance(derived, list) else derived
        return Score("accuracy", value, len(held_out.examples), "tweets", {"value": value})

    monkeypatch.setattr(derived_archives, "evaluate_archive", evaluate)
    return scores


def test_a_failing_gate_leaves_no_archive_unless_accepted(scored, tmp_path):
    from tests.runtime_models import tiny_classifier

    model = tiny_classifier(tmp_path / "model")
    (model / "metrics.json").write_text(json.dumps({"held_out_accuracy": 0.9}))
    task, store = TASKS["sequence_classification"], tmp_path / "store"
    scored.update(fp32=0.75, derived=0.5)
    with pytest.raises(GateFailure, match="lost 25 points, more than the 0.2 points"):
        archive_derived(task, model, store, "bf16", model / "setup_config.json")
    assert not store.exists() or not list(store.iterdir())
    built = archive_derived(task, model, store, "bf16", model / "setup_config.json",
                            gate=GateOptions(accept_loss=True))
    assert built == store / "BERTSeqClassification_bf16.mar"
    with zipfile.ZipFile(built) as archive:
        metrics = json.loads(archive.read("metrics.json"))
        setup = json.loads(archive.read("setup_config.json"))
    assert setup["save_mode"] == "bf16"
    assert metrics["held_out_accuracy"] == 0.9  # training's metrics stay
    runtime = metrics["runtime"]
    assert (runtime["pretrained"], runtime["bf16"], runtime["passed"]) == (0.75, 0.5, False)
    assert runtime["accepted_with_flag"] is True


def test_a_model_without_a_held_out_set_needs_the_flag(tmp_path):
    from tests.runtime_models import tiny_classifier

    model = tiny_classifier(tmp_path / "model")  # no metrics.json
    task = TASKS["sequence_classification"]
    with pytest.raises(GateFailure, match="has no metrics.json.*--accept-metric-loss"):
        archive_derived(task, model, tmp_path / "store", "bf16", model / "setup_config.json")
    built = archive_derived(task, model, tmp_path / "store", "bf16", model / "setup_config.json",
                            gate=GateOptions(accept_loss=True))
    with zipfile.ZipFile(built) as archive:
        assert json.loads(archive.read("metrics.json"))["runtime"]["gate"].startswith(
            "not evaluated"
        )


def int8_graph_products(mar) -> dict[str, int]:
    import io

    import onnx

    with zipfile.ZipFile(mar) as archive:
        graph = onnx.load(io.BytesIO(archive.read("model_int8.onnx"))).graph
    ops = [node.op_type for node in graph.node]
    return {op: ops.count(op) for op in ("MatMul", "MatMulInteger", "DynamicQuantizeMatMul")}


def test_int8_falls_back_to_the_next_recipe_when_the_gate_fails_and_says_which(
    scored, tmp_path
):
    from tests.runtime_models import tiny_classifier

    model = tiny_classifier(tmp_path / "model")
    (model / "metrics.json").write_text(json.dumps({"held_out_accuracy": 0.9}))
    task, store = TASKS["sequence_classification"], tmp_path / "store"
    layers = json.loads((model / "config.json").read_text())["num_hidden_layers"]
    scored.update(fp32=0.75, derived=[0.5, 0.75])  # every product in int8 loses 25 points
    built = archive_derived(task, model, store, "onnx_int8", model / "setup_config.json")
    with zipfile.ZipFile(built) as archive:
        runtime = json.loads(archive.read("metrics.json"))["runtime"]
    assert (runtime["int8_recipe"], runtime["onnx_int8"], runtime["passed"]) == (
        "feed_forward_in_fp32", 0.75, True)
    # the feed-forward up-projections (one per layer) stayed fp32 MatMuls; the attention's
    # two activation products are never quantized
    assert int8_graph_products(built)["MatMul"] == layers + 2 * layers
    scored.update(derived=[0.5, 0.5])
    with pytest.raises(GateFailure, match="lost 25 points"):
        archive_derived(task, model, tmp_path / "store2", "onnx_int8", model / "setup_config.json")
    assert not (tmp_path / "store2").exists() or not list((tmp_path / "store2").iterdir())
