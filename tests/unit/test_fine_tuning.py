"""The shared fine-tuning loop on a tiny hand-made model, and the trainers' length-sorted
evaluations handing every prediction back to its own example."""

from types import SimpleNamespace

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from torchserve_nlp.data.ner_data import LABELS, Sentence, first_token_tags
from torchserve_nlp.training import token_classifier_training
from torchserve_nlp.training.fine_tuning import (
    Optimisation,
    TrainingRun,
    fine_tune,
    freeze_lower_layers,
)
from torchserve_nlp.training.precision import Precision


class TinyClassifier(torch.nn.Module):
    """Mean of token embeddings → two logits; a loss when labels are given."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(10, 4)
        self.out = torch.nn.Linear(4, 2)

    def forward(self, input_ids, attention_mask, labels):
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1)
        return SimpleNamespace(loss=torch.nn.functional.cross_entropy(self.out(pooled), labels))


def batch(ids: list[list[int]], labels: list[int]) -> dict[str, torch.Tensor]:
    width = max(map(len, ids))
    return {
        "input_ids": torch.tensor([row + [0] * (width - len(row)) for row in ids]),
        "attention_mask": torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids]),
        "labels": torch.tensor(labels),
    }


# token 1..4 mean label 0, 5..9 label 1
EPOCH = [batch([[1, 2, 3], [5, 6]], [0, 1]), batch([[7, 8, 9, 5], [4]], [1, 0])]


def loss_of(model: TinyClassifier) -> float:
    with torch.no_grad():
        return sum(float(model(**b).loss) for b in EPOCH)


def test_fine_tune_learns_and_counts_real_and_padded_tokens():
    model = TinyClassifier()
    before = loss_of(model)
    history, run = fine_tune(
        model, [EPOCH] * 3, Optimisation(epochs=3, learning_rate=0.1),
        lambda: {"loss": loss_of(model)}, Precision.FP32,
    )
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < before / 2
    assert (run.steps, run.tokens, run.padded_tokens) == (6, 3 * 10, 3 * 14)
    assert run.as_json()["padding_fraction"] == round(1 - 10 / 14, 4)


def test_fine_tune_can_evaluate_only_after_the_last_epoch():
    model = TinyClassifier()
    calls = []
    history, _ = fine_tune(
        model, [EPOCH] * 2, Optimisation(epochs=2, learning_rate=0.1),
        lambda: calls.append(1) or {"n": len(calls)}, Precision.BF16,
        evaluate_every_epoch=False,
    )
    assert history == [{"epoch": 2, "n": 1}]


def test_frozen_parameters_stay_as_they_were():
    model = TinyClassifier()
    model.embed.requires_grad_(False)
    frozen = model.embed.weight.clone()
    fine_tune(model, [EPOCH], Optimisation(epochs=1, learning_rate=0.1), dict, Precision.FP32)
    assert torch.equal(model.embed.weight, frozen)


def tiny_bert(layers: int) -> BertForSequenceClassification:
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(
        vocab_size=30, hidden_size=8, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=16, max_position_embeddings=16, num_labels=2,
    ))


def test_freezing_lower_layers_stops_the_backward_above_them():
    model = tiny_bert(layers=3)
    freeze_lower_layers(model, 2)
    ids = torch.tensor([[2, 5, 7, 3], [2, 9, 3, 0]])
    loss = model(input_ids=ids, attention_mask=(ids > 0).long(), labels=torch.tensor([0, 1])).loss
    loss.backward()
    frozen = [model.bert.embeddings, *model.bert.encoder.layer[:2]]
    trained = [model.bert.encoder.layer[2], model.bert.pooler, model.classifier]
    assert all(p.grad is None and not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for m in trained
               for p in m.parameters())


def test_freezing_no_layer_leaves_the_model_alone_and_freezing_all_is_refused():
    model = tiny_bert(layers=2)
    freeze_lower_layers(model, 0)
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="frozen_layers=2 leaves nothing of the 2-layer"):
        freeze_lower_layers(model, 2)


def test_training_run_reports_tokens_per_second():
    run = TrainingRun("bf16", steps=2, tokens=3000, padded_tokens=3300, seconds=2.0)
    assert run.tokens_per_second == 1500
    assert run.as_json()["tokens_per_second"] == 1500.0


class EchoTagger(torch.nn.Module):
    """Tags token id t with label t % len(LABELS): predictions follow the input, so a
    prediction handed to the wrong sentence shows."""

    def forward(self, input_ids, attention_mask):
        return SimpleNamespace(logits=torch.nn.functional.one_hot(input_ids % len(LABELS),
                                                                  len(LABELS)).float())


def test_ner_evaluation_in_length_order_scores_each_sentence_against_its_own_tags():
    items, gold = [], []
    for words in (5, 1, 3, 2, 4, 6):  # lengths out of order
        ids = [101] + [1 + (words + w) % 8 for w in range(words)] + [102]
        word_ids = [None, *range(words), None]
        tags = first_token_tags(word_ids, [i % len(LABELS) for i in ids], words)
        items.append({"input_ids": ids, "labels": [0] * len(ids), "word_ids": word_ids,
                      "words": words})
        gold.append(Sentence(tuple(f"w{w}" for w in range(words)), tuple(tags)))
    assert any(tag != "O" for sentence in gold for tag in sentence.tags)
    scores = token_classifier_training.evaluate(EchoTagger(), items, gold, pad_id=0)
    assert scores["f1"] == 1.0
