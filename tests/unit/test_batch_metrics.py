"""The batch metrics (nlp_runtime.batch_metrics): their figures on hand-made data, the metrics
config that declares them, and handlers reporting them through TorchServe's own metrics
cache without any request depending on it."""

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ts
import yaml
from sequence_classification_handler import SequenceClassificationHandler
from transformers import AutoTokenizer
from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl

from nlp_runtime.batch_metrics import (
    BATCH_SIZE,
    METRICS,
    REQUESTS_REFUSED,
    ForwardFigures,
    MetricsRecorder,
    Sample,
    batch_samples,
    forward_samples,
    refusal_samples,
)
from nlp_runtime.hf.forward_plan import plan_forwards
from tests.poisonable_handler import DECODER_BUG, Poisonable
from tests.tiny_handlers import save_tiny_classifier
from tests.worker_context import WorkerContext
from torchserve_nlp.serving.torchserve import write_config

REPO_ROOT = Path(__file__).resolve().parents[2]
METRICS_CONFIG = REPO_ROOT / "artifacts" / "torchserve_metrics.yaml"
TORCHSERVE_METRICS = Path(ts.__file__).parent / "configs" / "metrics.yaml"
# What TorchServe's CachingMetric logs for each sample, as the frontend parses it.
METRIC_LINE = re.compile(r"\[METRICS\](?P<name>\w+)\.\w+:(?P<value>[\d.]+)\|#(?P<dims>[^|]*)\|")
MODEL = "m"


def model_dims(*extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("ModelName", MODEL), ("Level", "Model"), *extra)


# ------------------------------------------------------------------------------- figures


def test_a_batch_reports_its_size():
    assert batch_samples(MODEL, 5) == [Sample(BATCH_SIZE, 5, model_dims())]


def test_refusals_are_counted_once_per_status():
    assert refusal_samples(MODEL, [413, 400, 400, 500, 400]) == [
        Sample(REQUESTS_REFUSED, 3, model_dims(("Status", "400"))),
        Sample(REQUESTS_REFUSED, 1, model_dims(("Status", "413"))),
        Sample(REQUESTS_REFUSED, 1, model_dims(("Status", "500"))),
    ]
    assert refusal_samples(MODEL, []) == []


def test_forward_figures_become_one_sample_each_and_one_per_request_window_count():
    samples = forward_samples(MODEL, ForwardFigures(2, 30, 42, (1, 3)))
    assert [(s.spec.name, s.value) for s in samples] == [
        ("ForwardsPerBatch", 2), ("RealTokens", 30), ("PaddedTokens", 42),
        ("WindowsPerRequest", 1), ("WindowsPerRequest", 3),
    ]
    assert {s.dimensions for s in samples} == {model_dims()}
    assert forward_samples(MODEL, None) == []


def test_a_plan_counts_real_and_padded_tokens_per_forward():
    lengths = np.array([3, 9, 5])
    together = plan_forwards(lengths, max_tokens=1000, overhead_tokens=1000)
    assert together.figures() == ForwardFigures(1, 17, 27)  # 3 rows padded to 9
    apart = plan_forwards(lengths, max_tokens=1000, overhead_tokens=0)
    assert apart.figures((2,)) == ForwardFigures(3, 17, 17, (2,))
    # A cap of 10 padded tokens holds [3, 5] (padded to 5) but no group with the 9.
    capped = plan_forwards(lengths, max_tokens=10, overhead_tokens=3)
    assert capped.figures() == ForwardFigures(2, 17, 19)


# ------------------------------------------------------------------------ never failing


def test_a_failing_emitter_is_logged_once_per_metric_and_never_raises(caplog):
    def broken(sample: Sample) -> None:
        raise KeyError(sample.spec.name)

    recorder = MetricsRecorder(MODEL, broken)
    with caplog.at_level(logging.WARNING):
        recorder.batch(2)
        recorder.batch(3)
        recorder.refused([400])
    warnings = [r.getMessage() for r in caplog.records if "could not be recorded" in r.message]
    assert len(warnings) == 2 and "BatchSize" in warnings[0] and "KeyError" in warnings[0]


def test_failing_figures_are_logged_and_nothing_is_recorded(caplog):
    recorded: list[Sample] = []

    def figures() -> ForwardFigures:
        raise ZeroDivisionError("a bug in the figures")

    with caplog.at_level(logging.ERROR):
        MetricsRecorder(MODEL, recorded.append).forwards(figures)
    assert recorded == [] and "forward figures could not be computed" in caplog.text


# ----------------------------------------------------------------- the metrics config


def declared(path: Path, section: str) -> dict[str, tuple[str, list[str]]]:
    """name → (type, dimension names) of a metrics config's section."""
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        metric["name"]: (kind, metric["dimensions"])
        for kind, metrics in config[section].items() for metric in metrics
    }


def test_the_config_declares_every_batch_metric_as_the_handlers_emit_it():
    ours = declared(METRICS_CONFIG, "model_metrics")
    for spec in METRICS:
        assert ours[spec.name] == (spec.kind.value, list(spec.dimensions)), spec.name


def test_the_config_keeps_torchserves_own_metrics():
    for section in ("ts_metrics", "model_metrics"):
        theirs = declared(TORCHSERVE_METRICS, section)
        ours = declared(METRICS_CONFIG, section)
        assert {name: ours.get(name) for name in theirs} == theirs, section
    assert set(declared(METRICS_CONFIG, "model_metrics")) == {
        *declared(TORCHSERVE_METRICS, "model_metrics"), *(spec.name for spec in METRICS)
    }


def test_config_properties_names_the_config_and_written_configs_find_it_anywhere(tmp_path):
    properties = (REPO_ROOT / "config.properties").read_text().splitlines()
    assert "metrics_config=artifacts/torchserve_metrics.yaml" in properties
    written = write_config(tmp_path / "elsewhere" / "config.properties",
                           {"model_store": "/store"}, base=REPO_ROOT / "config.properties")
    lines = written.read_text().splitlines()
    [setting] = [line for line in lines if line.startswith("metrics_config=")]
    assert Path(setting.split("=", 1)[1]) == METRICS_CONFIG
    absolute = tmp_path / "absolute.properties"
    absolute.write_text("metrics_config=/etc/ts/metrics.yaml\n")
    written = write_config(tmp_path / "copy.properties", {}, base=absolute)
    assert written.read_text() == "metrics_config=/etc/ts/metrics.yaml\n"


# ------------------------------------------------- handlers through TorchServe's cache


def metrics_cache(config: Path, model: str = MODEL) -> MetricsCacheYamlImpl:
    """The cache a TorchServe worker gives ``context.metrics``, as its worker sets it up."""
    cache = MetricsCacheYamlImpl(config_file_path=str(config))
    cache.initialize_cache()
    cache.model_name = model
    cache.set_request_ids({0: "r0"})
    return cache


def emitted(caplog) -> list[tuple[str, float, dict[str, str]]]:
    """(name, value, dimensions) of every [METRICS] line the worker would print."""
    lines = []
    for record in caplog.records:
        match = METRIC_LINE.search(record.getMessage())
        if match:
            dims = dict(pair.split(":", 1) for pair in match["dims"].split(","))
            lines.append((match["name"], float(match["value"]), dims))
    return lines


def totals(lines, name: str, **dims: str) -> tuple[int, float]:
    """(how many samples, their sum) of metric ``name`` whose dimensions include ``dims``."""
    values = [v for n, v, d in lines if n == name and dims.items() <= d.items()]
    return len(values), sum(values)


def serve_poisonable(context: WorkerContext, texts: list[str]) -> tuple[list[Any], dict]:
    handler = Poisonable()
    handler.initialize(context)
    results = handler.handle([{"body": text} for text in texts], context)
    return results, context.statuses


def test_a_batch_reports_its_size_and_its_refusals_by_status(caplog):
    context = WorkerContext(Path("."), model_name=MODEL)
    context.metrics = metrics_cache(METRICS_CONFIG)
    with caplog.at_level(logging.INFO):
        results, statuses = serve_poisonable(
            context, ["one", DECODER_BUG, "poison", "four", DECODER_BUG]
        )
    assert statuses == {1: 400, 2: 500, 4: 400}
    lines = emitted(caplog)
    assert totals(lines, "BatchSize", ModelName=MODEL, Level="Model") == (1, 5)
    assert totals(lines, "RequestsRefused", Status="400") == (1, 2)
    assert totals(lines, "RequestsRefused", Status="500") == (1, 1)
    assert [d for n, _, d in lines if n == "RequestsRefused"][0] == {
        "ModelName": MODEL, "Level": "Model", "Status": "400"}
    assert totals(lines, "RealTokens") == (0, 0)  # this handler cannot tell its tokens


class Unavailable:
    """A metrics cache that fails every call."""

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("metrics are down")


@pytest.mark.parametrize(
    "cache", [None, Unavailable(), "torchserve's default config"],
    ids=["none", "failing", "undeclared"],
)
def test_requests_are_answered_alike_whatever_the_metrics(cache):
    texts = ["one", DECODER_BUG, "poison", "four"]
    want = serve_poisonable(WorkerContext(Path(".")), texts)
    context = WorkerContext(Path("."), model_name=MODEL)
    context.metrics = metrics_cache(TORCHSERVE_METRICS) if isinstance(cache, str) else cache
    assert serve_poisonable(context, texts) == want


def test_a_transformer_batch_reports_the_tokenizers_tokens_and_its_forwards(tmp_path, caplog):
    model_dir = save_tiny_classifier(tmp_path / "model")
    context = WorkerContext(model_dir, model_name=MODEL)
    context.metrics = metrics_cache(METRICS_CONFIG)
    handler = SequenceClassificationHandler()
    handler.initialize(context)
    texts = ["short", "a somewhat longer text than that", "mid sized text", "x"]
    with caplog.at_level(logging.INFO):
        results = handler.handle([{"body": t} for t in texts] + [{"body": b"\xff"}], context)
    assert context.statuses == {4: 400} and all("Positive" in r for r in results[:4])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    lengths = [len(tokenizer(text)["input_ids"]) for text in texts]
    lines = emitted(caplog)
    assert totals(lines, "RealTokens", ModelName=MODEL) == (1, sum(lengths))
    [(_, forwards, _)] = [line for line in lines if line[0] == "ForwardsPerBatch"]
    [(_, padded, _)] = [line for line in lines if line[0] == "PaddedTokens"]
    # Between every row padded to its own length and every row padded to the longest.
    assert 1 <= forwards <= len(texts)
    assert sum(lengths) <= padded <= len(texts) * max(lengths)
    assert totals(lines, "BatchSize") == (1, 5)
    assert totals(lines, "RequestsRefused", Status="400") == (1, 1)
    assert totals(lines, "WindowsPerRequest") == (0, 0)
