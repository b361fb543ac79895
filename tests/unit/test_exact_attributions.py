"""Integrated gradients through the handlers' real explain path, on analytic models where the
attributions have a closed form (tests/explain_models.py derives them).

Each handler is loaded from a small saved model, as served, and then given an analytic model
in place of the loaded one. Captum's Gauss-Legendre rule with the default 50 steps integrates
these smooth one-dimensional paths to within a few 1e-9 (measured in float64: 2e-10 for the
bag, 1e-9 for a QA logit change of 6, 2e-9 for the tagger), hence the tolerance ``EXACT``.
"""

import pytest
import torch
from question_answering_handler import QuestionAnsweringHandler
from sequence_classification_handler import SequenceClassificationHandler
from token_classification_handler import TokenClassificationHandler

from nlp_runtime.hf.model import LoadedModel, pretrained_forward
from nlp_runtime.tasks.token_classification import MAX_EXPLAINED_ENTITIES
from tests.explain_checks import word_sums
from tests.explain_models import (
    BagOfEmbeddings,
    TokenwiseQA,
    TokenwiseTagger,
    save_two_label_classifier,
)
from tests.ner_models import save_tiny_ner
from tests.qa_models import END_WORD, START_WORD, planted_qa_model
from tests.worker_context import WorkerContext

EXACT = 1e-7
LABELS = ("Negative", "Positive")
TEXTS = (
    "Café naïve 😀 résumé: simply dreadful!",
    "unbelievably overpriced hyperparameters, the movie was wonderful",
)
FILLER = "Nobody on the committee agreed about the roads, the budget or the library. "
ANSWER = f"{START_WORD} crossing {END_WORD}"
NER_TEXTS = (
    "Barack Obama met Angela Merkel in Berlin.",
    "Kathmandu to Reykjavik with Volkswagen engineers " * 12,  # several windows
)
# Tokens the tagger labels as one entity of several tokens (and words).
PLANTED = {"barack": "B-PER", "obama": "I-PER", "angela": "B-PER", "mer": "I-PER",
           "##kel": "I-PER"}


def with_model(handler, model, outputs):
    handler.model = LoadedModel(pretrained_forward(model, outputs), model)
    return handler


def serve(handler, bodies):
    context = WorkerContext(handler.model_dir)
    results = handler.handle([{"body": body} for body in bodies], context)
    assert context.statuses == {}
    return results


def text_tokens(tokenizer, text):
    """The text's tokens without special tokens: ids and character offsets."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return encoded["input_ids"], encoded["offset_mapping"]


def assert_scores(rows, expected):
    assert [r["score"] for r in rows] == pytest.approx(expected, abs=EXACT)


@pytest.fixture(scope="module")
def bag_handler(tmp_path_factory):
    handler = SequenceClassificationHandler()
    handler.initialize(WorkerContext(save_two_label_classifier(tmp_path_factory.mktemp("bag"),
                                                             LABELS)))
    return with_model(handler, BagOfEmbeddings(handler.tokenizer.vocab_size), ("logits",))


@pytest.fixture(scope="module")
def qa_handler(tmp_path_factory):
    model_dir = planted_qa_model(tmp_path_factory.mktemp("qa"), max_length=32, doc_stride=8)
    handler = QuestionAnsweringHandler()
    handler.initialize(WorkerContext(model_dir))
    tokenizer = handler.tokenizer
    model = TokenwiseQA(
        tokenizer.vocab_size, tokenizer.convert_tokens_to_ids([START_WORD]),
        tokenizer(END_WORD, add_special_tokens=False)["input_ids"][-1:],
    )
    return with_model(handler, model, ("start_logits", "end_logits"))


@pytest.fixture(scope="module")
def ner_handler(tmp_path_factory):
    model_dir = save_tiny_ner(
        tmp_path_factory.mktemp("ner"), model_name="tiny", mode="token_classification",
        max_length=32, doc_stride=8,
    )
    handler = TokenClassificationHandler()
    handler.initialize(WorkerContext(model_dir))
    planted = {handler.tokenizer.convert_tokens_to_ids(token): handler.labels.index(label)
               for token, label in PLANTED.items()}
    model = TokenwiseTagger(handler.tokenizer.vocab_size, len(handler.labels), planted)
    return with_model(handler, model, ("logits",))


def test_bag_of_embeddings_scores_are_their_share_of_the_probability_change(bag_handler):
    bodies = [{"data": text, "explain": {"target": label}} for text in TEXTS for label in LABELS]
    results = serve(bag_handler, bodies)
    model, tokenizer = bag_handler.model.eager, bag_handler.tokenizer
    embeddings = model.embeddings.weight.detach()
    weight, bias = model.weight.detach(), model.bias.detach()
    pad = embeddings[tokenizer.pad_token_id]
    for body, result in zip(bodies, results, strict=True):
        explanation, target = result["explanation"], LABELS.index(body["explain"]["target"])
        ids, offsets = text_tokens(tokenizer, body["data"])
        special_sum = embeddings[[tokenizer.cls_token_id, tokenizer.sep_token_id]].sum(0)
        w = weight[target] - weight[1 - target]
        z_baseline = (special_sum + len(ids) * pad) @ w + bias[target] - bias[1 - target]
        c = (embeddings[ids] - pad) @ w
        p_input = torch.sigmoid(z_baseline + c.sum()).item()
        p_baseline = torch.sigmoid(z_baseline).item()
        assert explanation["output"] == pytest.approx(p_input, abs=EXACT)
        assert explanation["baseline_output"] == pytest.approx(p_baseline, abs=EXACT)
        token_values = (c / c.sum() * (p_input - p_baseline)).tolist()
        assert_scores(explanation["attributions"],
                      word_sums(explanation["attributions"], offsets, token_values))
        assert abs(p_input - p_baseline) > 0.05  # the closed form is not trivially zero


def test_tokenwise_qa_scores_only_the_answer_ends_by_their_own_logit_changes(qa_handler):
    context = FILLER * 3 + f"At noon a {ANSWER} walked past. " + FILLER
    (result,) = serve(qa_handler, [{"question": "What walked past?", "context": context,
                                     "explain": True}])
    answer, explanation = result["prediction"], result["explanation"]
    assert answer["answer"] == ANSWER
    model, tokenizer = qa_handler.model.eager, qa_handler.tokenizer
    ids, offsets = text_tokens(tokenizer, context)
    first = next(t for t, (s, e) in enumerate(offsets) if e > answer["start"])
    last = max(t for t, (s, e) in enumerate(offsets) if s < answer["end"])
    embeddings = model.embeddings.weight.detach()
    start, end = model.logits(embeddings[[ids[first], ids[last], tokenizer.pad_token_id]])
    values = [0.0] * len(ids)
    values[first] += (start[0] - start[2]).item()
    values[last] += (end[1] - end[2]).item()
    rows = explanation["attributions"]
    assert_scores(rows, word_sums(rows, offsets, values))
    question_rows = explanation["question_attributions"]
    assert_scores(question_rows, [0.0] * len(question_rows))
    assert explanation["output"] == pytest.approx((start[0] + end[1]).item(), abs=EXACT)
    assert explanation["baseline_output"] == pytest.approx((start[2] + end[2]).item(), abs=EXACT)


def test_tokenwise_ner_scores_each_entity_token_by_its_own_probability_change(ner_handler):
    results = serve(ner_handler, [{"inputs": text, "explain": True} for text in NER_TEXTS])
    model, tokenizer, labels = ner_handler.model.eager, ner_handler.tokenizer, ner_handler.labels
    embeddings = model.embeddings.weight.detach()
    pad_probabilities = model.logits(embeddings[tokenizer.pad_token_id]).softmax(-1)
    explained = []
    for text, result in zip(NER_TEXTS, results, strict=True):
        ids, offsets = text_tokens(tokenizer, text)
        probabilities = model.logits(embeddings[ids]).softmax(-1)
        entities = result["prediction"][:MAX_EXPLAINED_ENTITIES]
        for entity, explanation in zip(entities, result["explanation"], strict=True):
            group = [labels.index(f"{p}-{entity['entity_group']}") for p in ("B", "I")]
            inside = [t for t, (s, e) in enumerate(offsets)
                      if s < entity["end"] and e > entity["start"]]
            values = [0.0] * len(ids)
            for t in inside:
                values[t] = (probabilities[t, group].sum() - pad_probabilities[group].sum()).item()
            rows = explanation["attributions"]
            assert_scores(rows, word_sums(rows, offsets, values))
            output = probabilities[inside][:, group].sum().item()
            baseline = len(inside) * pad_probabilities[group].sum().item()
            assert explanation["output"] == pytest.approx(output, abs=EXACT)
            assert explanation["baseline_output"] == pytest.approx(baseline, abs=EXACT)
            explained.append(len(inside))
    assert len(explained) >= 4 and max(explained) == 3  # Angela Merkel: three tokens
