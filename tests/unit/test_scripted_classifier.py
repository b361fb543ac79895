"""Tokenizer + traced encoder scripted together must equal eager model + HF tokenizer; the
handler serving such a module refuses explanations per request."""

import json
import shutil

import pytest
import torch
from scripted_text_classifier_handler import ScriptedTextClassifierHandler
from transformers import BertConfig, BertForSequenceClassification

from tests.oracles import eager_classifier_logits
from tests.tiny_handlers import SCRIPTED_FILE, save_scripted_classifier
from tests.worker_context import WorkerContext
from torchserve_nlp.data.offline_assets import minilm_dir
from torchserve_nlp.tokenizer.scripted_classifier import build_scripted_classifier
from torchserve_nlp.training.sentiment_training import TOKENIZER_SETTINGS

TEXTS = [
    "fine",
    "Self-driving cars will never be safe enough for me.",
    "Café naïve 中文 😀 — a longer sentence with accents, CJK and emoji to vary the length!",
    "short again",
    "one two three four five six seven eight nine ten eleven twelve thirteen",
    "?",
    "I love it",
]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A small random BERT classifier saved the way scripts/train_sentiment.py saves one."""
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny")
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64, num_labels=3,
    )
    model = BertForSequenceClassification(config).eval()
    torch.save(model.state_dict(), out / "model.pt")
    config.save_pretrained(out)
    shutil.copy(minilm_dir() / "vocab.txt", out / "vocab.txt")
    settings = {"vocab_file": "vocab.txt", "lowercase": True, "max_length": 48}
    (out / TOKENIZER_SETTINGS).write_text(json.dumps(settings))
    return out


@pytest.fixture(scope="module")
def scripted(tiny_model_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("jit") / "model_jit.pt"
    torch.jit.save(build_scripted_classifier(tiny_model_dir / "model.pt"), str(path))
    return torch.jit.load(str(path))


def eager_logits(model_dir, texts: list[str]) -> torch.Tensor:
    return eager_classifier_logits(model_dir, texts, max_length=48)


@pytest.mark.parametrize(
    "texts",
    [TEXTS[:1], TEXTS[:2], TEXTS[:5], TEXTS, [TEXTS[4]] * 3, ["x " * 200]],
    ids=["one", "two", "five", "seven", "no-padding", "truncated"],
)
def test_scripted_equals_eager_at_shapes_other_than_traced(scripted, tiny_model_dir, texts):
    got = scripted(texts)
    expected = eager_logits(tiny_model_dir, texts)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_batch_members_do_not_influence_each_other(scripted):
    alone = scripted([TEXTS[1]])
    in_batch = scripted(TEXTS)[1:2]
    torch.testing.assert_close(alone, in_batch, atol=1e-5, rtol=0)


def test_accepts_a_single_string(scripted):
    torch.testing.assert_close(scripted(TEXTS[2]), scripted([TEXTS[2]]), atol=0, rtol=0)


def test_handler_refuses_explanations_per_request_naming_an_archive_that_explains(tmp_path):
    model_dir = save_scripted_classifier(tmp_path / "scripted")
    handler = ScriptedTextClassifierHandler()
    handler.initialize(WorkerContext(model_dir, serialized_file=SCRIPTED_FILE))
    json_type = {"Content-Type": "application/json"}
    context = WorkerContext(model_dir, headers={1: json_type, 2: json_type, 3: {"explain": "True"}})
    results = handler.handle(
        [
            {"body": "a short text"},
            {"body": {"data": "a short text", "explain": False}},
            {"body": {"data": "a short text", "explain": {"n_steps": 8}}},
            {"body": "a short text"},  # sent to /explanations
        ],
        context,
    )
    assert context.statuses == {2: 400, 3: 400}
    assert results[1] == results[0] and set(results[0]) == {"Negative", "Positive"}
    for refused in results[2:]:
        assert refused["message"] == (
            "ScriptedTextClassifierHandler gives no explanations: send the request to "
            "/predictions without 'explain', or ask /explanations/BERTSeqClassification, which "
            "explains sentiment by integrated gradients or SHAP"
        )
