"""The handler, run in-process, must answer exactly what transformers' pipeline answers."""

import json
from pathlib import Path

import pytest
from token_classification_handler import TokenClassificationHandler

from tests.ner_models import save_tiny_ner
from tests.oracles import assert_same_entities, pipeline_entities
from tests.worker_context import WorkerContext

STRATEGIES = ["none", "simple", "first", "average", "max"]
MAX_LENGTH, STRIDE = 24, 8
SENTENCES = [
    "Satya Nadella flew from Reykjavik to Kathmandu with Volkswagen engineers.",
    "hi",
    "Ngozi Okonjo-Iweala met Tsitsipas at Wimbledon; Microsoft's #AI folks tweeted @elonmusk!",
    "Café naïve résumé in Zürich 中文 😀 with Schwarzenegger and Kubernetes.",
    "Unbelievably, the Philharmonie de Paris hosted Rammstein.",
]
LONG_TEXT = " ".join(
    [
        "Yesterday Giannis Antetokounmpo visited Thessaloniki and Constantinople.",
        "Later, representatives of Hewlett-Packard and Volkswagen met in Düsseldorf.",
        "The Rijksmuseum in Amsterdam lent Vermeer paintings to Kunsthistorisches Wien.",
        "Finally, Ngozi Okonjo-Iweala spoke at the WTO headquarters in Geneva.",
    ]
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_tiny_ner(
        tmp_path_factory.mktemp("tiny_ner"), model_name="tiny-bert",
        mode="token_classification", do_lower_case=True, save_mode="pretrained",
    )


def load_handler(model_dir: Path, **yaml_handler) -> TokenClassificationHandler:
    handler = TokenClassificationHandler()
    handler.initialize(WorkerContext(model_dir, {"handler": yaml_handler}))
    return handler


@pytest.fixture(scope="module")
def handler(model_dir) -> TokenClassificationHandler:
    """Windows of 128 tokens: every sentence fits in one, as in the pipeline's default."""
    return load_handler(model_dir, max_length=128, doc_stride=32)


@pytest.fixture(scope="module")
def windowed(model_dir) -> TokenClassificationHandler:
    """Windows of MAX_LENGTH tokens overlapping by STRIDE (from model-config.yaml)."""
    return load_handler(model_dir, max_length=MAX_LENGTH, doc_stride=STRIDE, num_labels=9)


def reference(model_dir: Path, text: str, strategy: str, stride: int | None) -> list[dict]:
    return pipeline_entities(model_dir, text, strategy, stride, MAX_LENGTH)


def serve(handler, bodies: list, context=None) -> list:
    context = context or WorkerContext(handler.model_dir)
    return handler.handle([{"body": body} for body in bodies], context)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_batch_equals_pipeline_for_every_strategy(handler, model_dir, strategy):
    bodies = [{"inputs": s, "parameters": {"aggregation_strategy": strategy}} for s in SENTENCES]
    got = serve(handler, bodies)
    for text, entities in zip(SENTENCES, got, strict=True):
        assert_same_entities(entities, reference(model_dir, text, strategy, stride=None))


def test_sentences_exercise_multi_subword_entities(handler, model_dir):
    """Guards the oracle test: words really split into subwords and strategies disagree."""
    words = {
        s: [e["word"] for e in reference(model_dir, s, "none", None)] for s in SENTENCES[:1]
    }
    assert any(w.startswith("##") for ws in words.values() for w in ws)
    by_strategy = {
        s: serve(handler, [{"inputs": SENTENCES[0], "parameters": {"aggregation_strategy": s}}])
        for s in STRATEGIES[1:]
    }
    assert len({json.dumps(v) for v in by_strategy.values()}) >= 3
    assert any(" " in e["word"] for v in by_strategy.values() for e in v[0])


@pytest.mark.parametrize("strategy", STRATEGIES[1:])
def test_long_text_equals_pipeline_with_stride(windowed, model_dir, strategy):
    assert len(windowed.tokenizer(LONG_TEXT)["input_ids"]) > 2 * MAX_LENGTH
    bodies = [
        {"inputs": text, "parameters": {"aggregation_strategy": strategy}}
        for text in (SENTENCES[0], LONG_TEXT, SENTENCES[1])
    ]
    got = serve(windowed, bodies)
    assert_same_entities(got[1], reference(model_dir, LONG_TEXT, strategy, stride=STRIDE))
    assert_same_entities(got[0], reference(model_dir, SENTENCES[0], strategy, stride=STRIDE))
    assert got[1][-1]["end"] > len(LONG_TEXT) - 20  # nothing truncated


def test_long_text_with_strategy_none_labels_every_token_once(windowed):
    [tokens] = serve(windowed, [{"inputs": LONG_TEXT, "parameters": {
        "aggregation_strategy": "none", "ignore_labels": []}}])
    expected = windowed.tokenizer(LONG_TEXT, return_offsets_mapping=True)
    content = expected["offset_mapping"][1:-1]
    assert [(t["start"], t["end"]) for t in tokens] == [tuple(o) for o in content]
    assert [t["index"] for t in tokens] == list(range(1, len(content) + 1))


def test_ignore_labels_parameter_and_default(handler):
    text = SENTENCES[2]
    everything = serve(handler, [{"inputs": text, "parameters": {"ignore_labels": []}}])[0]
    dropped = everything[0]["entity_group"]
    default, without = serve(
        handler, [text, {"inputs": text, "parameters": {"ignore_labels": [dropped]}}]
    )
    assert default == [e for e in everything if e["entity_group"] != "O"]
    assert without == [e for e in everything if e["entity_group"] != dropped]
    assert len(without) < len(everything)


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"aggregation_strategy": "longest"}, "aggregation_strategy"),
        ({"ignore_labels": "O"}, "ignore_labels"),
        ({"top_k": 3}, "top_k"),
    ],
)
def test_bad_parameter_fails_only_its_request_with_400(handler, parameters, named):
    context = WorkerContext(handler.model_dir)
    bad = {"inputs": SENTENCES[0], "parameters": parameters}
    results = serve(handler, [SENTENCES[0], bad, SENTENCES[1]], context)
    assert context.statuses == {1: 400}
    assert named in results[1]["message"]
    assert isinstance(results[0], list) and isinstance(results[2], list)


def test_text_needing_too_many_windows_gets_413_alone(model_dir, windowed):
    handler = load_handler(model_dir, max_length=MAX_LENGTH, doc_stride=STRIDE, max_windows=2)
    context = WorkerContext(model_dir)
    results = serve(handler, [LONG_TEXT, SENTENCES[1]], context)
    assert context.statuses == {0: 413}
    assert "max_windows" in results[0]["message"] or "windows" in results[0]["message"]
    assert results[1] == serve(windowed, [SENTENCES[1]])[0]


@pytest.mark.parametrize(
    ("yaml_handler", "named"),
    [
        ({"mode": "question_answering"}, "mode"),  # disagrees with setup_config.json
        ({"num_labels": 3}, "num_labels"),  # the model has 9
        ({"max_length": MAX_LENGTH, "doc_stride": MAX_LENGTH - 2}, "doc_stride"),  # no progress
        ({"max_lenght": 64}, "max_lenght"),
        ({"aggregation_strategy": "longest"}, "aggregation_strategy"),
    ],
)
def test_bad_configuration_fails_at_load_naming_the_key(model_dir, yaml_handler, named):
    with pytest.raises(ValueError, match=named):
        load_handler(model_dir, **yaml_handler)
