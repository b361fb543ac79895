"""Integrated-gradients explanations from the QA and token-classification handlers."""

import copy

import pytest
from question_answering_handler import QuestionAnsweringHandler
from token_classification_handler import TokenClassificationHandler

from nlp_runtime.hf.model import LoadedModel
from nlp_runtime.postprocess.token_aggregation import AggregationStrategy
from nlp_runtime.wire.entities import EntityRequest
from tests.explain_checks import (
    assert_complete,
    assert_rows_cover,
    first_window_holding,
    forward_at_input_and_baseline,
    overlapping,
)
from tests.ner_models import save_tiny_ner
from tests.qa_models import END_WORD, START_WORD, planted_qa_model
from tests.worker_context import WorkerContext

ANSWER = f"{START_WORD} crossing {END_WORD}"
FILLER = "Nobody on the committee agreed about the roads, the budget or the library. "
# Integrated gradients' quadrature error allowed: a share of the change plus float32 rounding
# (measured on these models: below 1e-7 of the change, 5e-7 absolute).
COMPLETENESS, ROUNDING = 1e-3, 1e-5
NER_TEXTS = [
    "Barack Obama met Angela Merkel in Berlin.",
    "Kathmandu to Reykjavik with Volkswagen engineers " * 12,  # several windows
]


def windows(handler, *texts):
    """The text's (or question and context's) windows, tokenized by the test as the handler
    splits them."""
    return handler.tokenizer(
        *texts, truncation="only_second" if len(texts) == 2 else True,
        max_length=handler.config.max_length, stride=handler.config.doc_stride,
        return_overflowing_tokens=True, return_offsets_mapping=True,
        return_special_tokens_mask=True, return_token_type_ids=True,
    )


def own_forward(handler, encoding, row):
    """The eager model's outputs on window ``row`` and on its baseline ([PAD] for every
    non-special token), from the test's own forward."""
    return forward_at_input_and_baseline(
        handler.model.eager, encoding["input_ids"][row], encoding["token_type_ids"][row],
        encoding["special_tokens_mask"][row], handler.tokenizer.pad_token_id,
    )


def assert_rows_index(text: str, rows: list) -> None:
    assert rows and all(text[r["start"] : r["end"]] == r["text"] for r in rows)


@pytest.fixture(scope="module")
def qa_handler(tmp_path_factory):
    model_dir = planted_qa_model(tmp_path_factory.mktemp("planted"), max_length=32, doc_stride=8)
    handler = QuestionAnsweringHandler()
    handler.initialize(WorkerContext(model_dir))
    return handler


@pytest.fixture(scope="module")
def ner_handler(tmp_path_factory):
    out = save_tiny_ner(
        tmp_path_factory.mktemp("tiny_ner"), model_name="tiny", mode="token_classification",
        max_length=32, doc_stride=8,
    )
    handler = TokenClassificationHandler()
    handler.initialize(WorkerContext(out))
    return handler


def serve(handler, bodies, headers=None):
    context = WorkerContext(handler.model_dir, headers=headers)
    return handler.handle([{"body": body} for body in bodies], context), context.statuses


def test_qa_explains_the_answer_in_its_window_with_the_answer_words_on_top(qa_handler):
    context = FILLER * 3 + f"At noon a {ANSWER} walked past. " + FILLER
    question = "What walked past?"
    (result,), statuses = serve(
        qa_handler, [{"question": question, "context": context, "explain": True}]
    )
    assert statuses == {}
    assert result["prediction"]["answer"] == ANSWER
    explanation = result["explanation"]
    assert explanation["target"] == ANSWER and explanation["text"] == context
    rows, question_rows = explanation["attributions"], explanation["question_attributions"]
    assert_rows_index(context, rows)
    assert_rows_index(question, question_rows)
    # The explained window is the first holding the answer; the objective there, from the
    # test's own forward: start logit at the answer's first token + end logit at its last.
    answer = result["prediction"]
    encoding = windows(qa_handler, question, context)
    row = first_window_holding(encoding, answer["start"], answer["end"], sequence=1)
    assert_rows_cover(rows, encoding, row, sequence=1)
    tokens = overlapping(encoding, row, 1, answer["start"], answer["end"])
    at_input, at_baseline = (
        (output.start_logits[0, tokens[0]] + output.end_logits[0, tokens[-1]]).item()
        for output in own_forward(qa_handler, encoding, row)
    )
    assert at_input - at_baseline > 10
    assert_complete(explanation, rows + question_rows, at_input, at_baseline,
                    tolerance=COMPLETENESS * abs(at_input - at_baseline) + ROUNDING)
    top_two = sorted(rows, key=lambda r: r["score"], reverse=True)[:2]
    assert {r["text"] for r in top_two} == {START_WORD, END_WORD}
    # The window explained is a later one: the first holds only filler.
    assert min(r["start"] for r in rows) > len(FILLER)


def test_qa_no_answer_is_explained_at_cls_and_errors_stay_per_request(qa_handler):
    bodies = [
        {"question": "What?", "context": FILLER, "parameters": {"handle_impossible_answer": True},
         "explain": {"n_steps": 16}},
        {"question": "What?", "context": FILLER, "explain": {"method": "shap"}},
        {"question": "What walked?", "context": f"a {ANSWER} walked"},
    ]
    results, statuses = serve(qa_handler, bodies, headers={2: {"explain": "True"}})
    assert statuses == {1: 400}
    assert results[0]["prediction"]["answer"] == ""
    assert results[0]["explanation"]["target"] == ""
    assert results[0]["explanation"]["n_steps"] == 16
    assert "integrated_gradients" in results[1]["message"]
    assert results[2]["explanation"]["target"] == ANSWER


def test_ner_explains_every_entity_of_every_request(ner_handler):
    bodies = [{"inputs": text, "explain": True} for text in NER_TEXTS] + [NER_TEXTS[0]]
    results, statuses = serve(ner_handler, bodies)
    assert statuses == {}
    assert isinstance(results[2], list)  # not asked: the plain entity list
    changes = []
    for text, result in zip(NER_TEXTS, results[:2], strict=True):
        entities, explanations = result["prediction"], result["explanation"]
        assert entities and len(explanations) == min(len(entities), 16)
        encoding = windows(ner_handler, text)
        for entity, explanation in zip(entities[:16], explanations, strict=True):
            label = entity.get("entity_group", entity.get("entity"))
            assert explanation["target"] == f"{label}: {entity['word']}"
            assert explanation["entity"]["start"] == entity["start"]
            assert explanation["text"] == text
            rows = explanation["attributions"]
            assert_rows_index(text, rows)
            # The explained window is the first holding the entity; the objective there, from
            # the test's own forward: the entity tokens' summed probability of B-/I-label.
            row = first_window_holding(encoding, entity["start"], entity["end"], sequence=0)
            assert_rows_cover(rows, encoding, row, sequence=0)
            tokens = overlapping(encoding, row, 0, entity["start"], entity["end"])
            group = [ner_handler.labels.index(f"{p}-{label}") for p in ("B", "I")]
            at_input, at_baseline = (
                output.logits.softmax(-1)[0, tokens][:, group].sum().item()
                for output in own_forward(ner_handler, encoding, row)
            )
            changes.append(abs(at_input - at_baseline))
            assert_complete(explanation, rows, at_input, at_baseline,
                            tolerance=COMPLETENESS * changes[-1] + ROUNDING)
    assert max(changes) > 0.5


def test_ner_entity_late_in_a_long_text_is_explained_in_a_later_window(ner_handler):
    text = NER_TEXTS[1]
    start = text.rindex("Volkswagen")
    entity = {"entity_group": "ORG", "word": "volkswagen", "start": start, "end": start + 10}
    batch = ner_handler.preprocess([EntityRequest(text, AggregationStrategy.SIMPLE, ())])
    window, (token_mask, label_mask) = ner_handler._entity_window(batch, 0, entity)
    covered = window.offsets[token_mask.astype(bool)]
    assert covered[0, 0] == start and covered[-1, 1] == start + 10
    assert window.offsets[1, 0] > 0  # not the first window
    assert [ner_handler.labels[i] for i in label_mask.nonzero()[0]] == ["B-ORG", "I-ORG"]


def test_without_an_eager_model_gradients_are_refused_per_request(qa_handler, ner_handler):
    for handler, body in (
        (qa_handler, {"question": "What walked?", "context": f"a {ANSWER} walked"}),
        (ner_handler, {"inputs": NER_TEXTS[0]}),
    ):
        traced_like = copy.copy(handler)
        traced_like.model = LoadedModel(handler.model.forward, None)  # as a TorchScript archive
        results, statuses = serve(traced_like, [{**body, "explain": True}, body])
        assert statuses == {0: 400}
        assert "TorchScript" in results[0]["message"]
        assert "prediction" not in results[1]  # the plain request is answered as usual
