import json
import math

import pytest
import torch

from nlp_runtime.postprocess.classification import label_probabilities, read_index_to_name, softmax


def test_softmax_rows_sum_to_one_and_keep_order():
    probabilities = softmax(torch.tensor([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]]))
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(probabilities[1], torch.full((3,), 1 / 3, dtype=torch.float64))
    assert probabilities[0].argsort().tolist() == [0, 1, 2]


def test_softmax_matches_closed_form_for_two_classes():
    # p(second) = sigmoid(b - a)
    probabilities = softmax(torch.tensor([[0.3, 2.5]]))
    assert math.isclose(probabilities[0, 1].item(), 1 / (1 + math.exp(-(2.5 - 0.3))), rel_tol=1e-6)


def test_softmax_is_stable_for_huge_logits():
    probabilities = softmax(torch.tensor([[1000.0, 0.0], [-1000.0, 1000.0]]))
    assert torch.isfinite(probabilities).all()
    assert probabilities.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_label_probabilities_names_each_class():
    rows = label_probabilities(torch.tensor([[0.25, 0.75]]), ["Negative", "Positive"])
    assert rows == [{"Negative": 0.25, "Positive": 0.75}]


def test_label_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match="3 classes but 2 labels"):
        label_probabilities(torch.tensor([[0.2, 0.3, 0.5]]), ["a", "b"])


def test_index_to_name_is_read_in_index_order(tmp_path):
    path = tmp_path / "index_to_name.json"
    path.write_text(json.dumps({"1": "Positive", "0": "Negative"}))
    assert read_index_to_name(path) == ["Negative", "Positive"]
    with pytest.raises(ValueError, match="names 2 classes, the model has 3"):
        read_index_to_name(path, num_classes=3)
