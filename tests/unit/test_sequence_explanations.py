"""Integrated-gradients explanations from the sequence-classification handler."""

import pytest
from sequence_classification_handler import SequenceClassificationHandler

from scripts.archive_sequence_classifier import archive_torchscript
from tests.explain_checks import FORWARD_TOLERANCE, assert_complete, forward_at_input_and_baseline
from tests.sentiment_toy import LABELS, sentences, train_toy_sentiment
from tests.worker_context import WorkerContext
from torchserve_nlp.serving.local_archive import LocalArchive, LocalRequest

CRAFTED = [
    ("yesterday the weather was terrible", "terrible", "Negative"),
    ("honestly the concert felt wonderful", "wonderful", "Positive"),
    ("Café naïve 😀 résumé: simply dreadful!", "dreadful", "Negative"),
]
COMPLETENESS = 0.03  # quadrature error allowed, as a share of the change (measured: <= 0.8%)


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    return train_toy_sentiment(tmp_path_factory.mktemp("toy_sentiment"))


@pytest.fixture(scope="module")
def handler(toy_dir):
    handler = SequenceClassificationHandler()
    handler.initialize(WorkerContext(toy_dir))
    return handler


def serve(handler, bodies, headers=None):
    context = WorkerContext(handler.model_dir, headers=headers)
    return handler.handle([{"body": body} for body in bodies], context), context.statuses


def test_toy_model_learned_its_keywords(handler):
    import random

    rows = sentences(random.Random(1), 40)
    results, _ = serve(handler, [text for text, _ in rows])
    predicted = [max(r, key=r.get) for r in results]
    assert sum(p == LABELS[label] for p, (_, label) in zip(predicted, rows, strict=True)) >= 38


def test_top_attributed_word_is_the_keyword_and_offsets_index_the_text(handler):
    bodies = [{"data": text, "explain": True} for text, _, _ in CRAFTED]
    results, statuses = serve(handler, bodies)
    assert statuses == {}
    for (text, keyword, label), result in zip(CRAFTED, results, strict=True):
        explanation = result["explanation"]
        assert max(result["prediction"], key=result["prediction"].get) == label
        assert explanation["method"] == "integrated_gradients"
        assert explanation["target"] == label and explanation["text"] == text
        rows = explanation["attributions"]
        assert all(text[r["start"] : r["end"]] == r["text"] for r in rows)
        assert [r["start"] for r in rows] == sorted(r["start"] for r in rows)
        top = max(rows, key=lambda r: r["score"])
        assert top["text"].lower().strip("!") == keyword


def own_forward(handler, text, label, fill_id):
    """The label's probability for the text and for its baseline (non-special tokens replaced
    by ``fill_id``), from the test's own forward of the eager model."""
    encoded = handler.tokenizer(text, truncation=True, max_length=handler.config.max_length,
                                return_special_tokens_mask=True, return_token_type_ids=True)
    outputs = forward_at_input_and_baseline(
        handler.model.eager, encoded["input_ids"], encoded["token_type_ids"],
        encoded["special_tokens_mask"], fill_id,
    )
    return [output.logits.softmax(-1)[0, handler.labels.index(label)].item()
            for output in outputs]


def test_word_scores_add_up_to_the_probability_change_of_a_separate_forward(handler):
    bodies = [{"data": text, "explain": {"n_steps": 64}} for text, _, _ in CRAFTED]
    results, _ = serve(handler, bodies)
    for (text, _, label), result in zip(CRAFTED, results, strict=True):
        explanation = result["explanation"]
        p_input, p_baseline = own_forward(handler, text, label, handler.tokenizer.pad_token_id)
        assert p_input - p_baseline > 0.5  # the keyword moved the label's probability
        assert_complete(explanation, explanation["attributions"], p_input, p_baseline,
                        tolerance=COMPLETENESS * (p_input - p_baseline))
        assert explanation["n_steps"] == 64


def test_a_requested_label_is_explained_instead_of_the_predicted_one(handler):
    text = "the movie was wonderful"
    results, _ = serve(handler, [
        {"data": text, "explain": True},
        {"data": text, "explain": {"target": "Negative"}},
    ])
    toward_positive, toward_negative = (r["explanation"] for r in results)
    assert toward_negative["target"] == "Negative"
    keyword = {r["text"]: r["score"] for r in toward_negative["attributions"]}["wonderful"]
    assert keyword < 0 < {r["text"]: r["score"] for r in toward_positive["attributions"]}[
        "wonderful"]


def test_explained_and_plain_requests_share_a_batch(handler):
    bodies = [
        "the food was great",
        {"data": "the food was awful", "explain": {"n_steps": 8}},
        b"this phone is lovely",
        {"data": "the food was great", "explain": {"n_steps": 32}},
        {"data": "x", "explain": {"method": "lime"}},
        {"data": "x", "explain": {"target": "Sarcastic"}},
        "this phone is lovely",
    ]
    results, statuses = serve(handler, bodies, headers={6: {"explain": "True"}})
    assert statuses == {4: 400, 5: 400}
    assert "method" in results[4]["message"] and "Sarcastic" in results[5]["message"]
    assert set(results[0]) == set(LABELS) and set(results[2]) == set(LABELS)
    assert results[0] == pytest.approx(results[3]["prediction"], abs=1e-6)
    assert results[1]["explanation"]["n_steps"] == 8
    assert results[3]["explanation"]["n_steps"] == 32
    # The /explanations endpoint's header asks for an explanation without a JSON body.
    assert results[6]["prediction"] == pytest.approx(results[2], abs=1e-6)
    assert results[6]["explanation"]["target"] == "Positive"


def test_torchscript_archive_refuses_gradients_but_answers_shap_and_predictions(toy_dir, tmp_path):
    build = tmp_path / "build"
    (build / "pretrained").mkdir(parents=True)
    for path in toy_dir.iterdir():
        (build / "pretrained" / path.name).write_bytes(path.read_bytes())
    mar = archive_torchscript(build, tmp_path / "store", setup_config=toy_dir / "setup_config.json")
    with LocalArchive.open(mar, tmp_path / "work") as served:
        plain, asked, shap = served.handle([
            LocalRequest(b"the food was great", "text/plain"),
            LocalRequest(b'{"data": "the food was great", "explain": true}', "application/json"),
            LocalRequest(b'{"data": "the food was great", "explain": {"method": "shap"}}',
                         "application/json"),
        ])
    assert plain.status == 200 and set(plain.payload) == set(LABELS)
    assert asked.status == 400
    assert "TorchScript" in asked.payload["message"] and "pretrained" in asked.payload["message"]
    # SHAP only needs predictions, so the traced archive answers it.
    assert shap.status == 200 and shap.payload["explanation"]["method"] == "shap"


def test_shap_base_value_is_the_fully_masked_probability_and_values_add_up_to_the_input(
    handler,
):
    bodies = [{"data": text, "explain": {"method": "shap", "max_evals": 120}}
              for text, _, _ in CRAFTED]
    results, statuses = serve(handler, bodies)
    assert statuses == {}
    for (text, keyword, label), result in zip(CRAFTED, results, strict=True):
        explanation = result["explanation"]
        assert explanation["method"] == "shap" and explanation["max_evals"] == 120
        p_input, p_masked = own_forward(handler, text, label, handler.tokenizer.mask_token_id)
        assert explanation["output"] == pytest.approx(p_input, **FORWARD_TOLERANCE)
        assert explanation["base_value"] == pytest.approx(p_masked, **FORWARD_TOLERANCE)
        rows = explanation["attributions"]
        assert all(text[r["start"] : r["end"]] == r["text"] for r in rows)
        total = explanation["base_value"] + sum(r["score"] for r in rows)
        assert total == pytest.approx(p_input, **FORWARD_TOLERANCE)
        assert p_input - p_masked > 0.3  # the values are not all near zero
        assert max(rows, key=lambda r: r["score"])["text"].lower() == keyword


def test_shap_budget_is_capped(handler):
    results, statuses = serve(handler, [{"data": "fine", "explain": {"method": "shap",
                                                                     "max_evals": 5000}}])
    assert statuses == {0: 400} and "max_evals" in results[0]["message"]
