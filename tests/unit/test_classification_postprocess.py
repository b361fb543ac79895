import json

import numpy as np
import pytest
from classification_postprocess import label_probabilities, read_index_to_name, softmax


def test_softmax_rows_sum_to_one_and_keep_order():
    probabilities = softmax(np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(probabilities.sum(axis=1), [1.0, 1.0])
    np.testing.assert_allclose(probabilities[1], [1 / 3] * 3)
    assert list(np.argsort(probabilities[0])) == [0, 1, 2]


def test_softmax_matches_closed_form_for_two_classes():
    # p(second) = sigmoid(b - a)
    probabilities = softmax(np.array([[0.3, 2.5]]))
    np.testing.assert_allclose(probabilities[0, 1], 1 / (1 + np.exp(-(2.5 - 0.3))))


def test_softmax_is_stable_for_huge_logits():
    probabilities = softmax(np.array([[1000.0, 0.0]]))
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities, [[1.0, 0.0]])


def test_label_probabilities_names_each_class():
    rows = label_probabilities(np.array([[0.25, 0.75]]), ["Negative", "Positive"])
    assert rows == [{"Negative": 0.25, "Positive": 0.75}]


def test_label_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match="3 classes but 2 labels"):
        label_probabilities(np.array([[0.2, 0.3, 0.5]]), ["a", "b"])


def test_index_to_name_is_read_in_index_order(tmp_path):
    path = tmp_path / "index_to_name.json"
    path.write_text(json.dumps({"1": "Positive", "0": "Negative"}))
    assert read_index_to_name(path) == ["Negative", "Positive"]
    with pytest.raises(ValueError, match="names 2 classes, the model has 3"):
        read_index_to_name(path, num_classes=3)
