"""The example model's own tokenizer, vocabulary file and batching."""

import pytest
import torch

from torchserve_nlp.training.embeddingbag_training import build_vocabulary, load_example_module


@pytest.fixture(scope="module")
def example():
    return load_example_module()


def test_basic_english_tokenizer_splits_punctuation_and_drops_quotes(example):
    text = 'Hello, World! It\'s "great": yes; (ok)?<br />Done.'
    assert example.basic_english_tokenize(text) == [
        "hello",
        ",",
        "world",
        "!",
        "it",
        "'",
        "s",
        "great",
        "yes",
        "(",
        "ok",
        ")",
        "?",
        "done",
        ".",
    ]


def test_vocabulary_is_frequency_ordered_and_starts_with_unknown(example):
    texts = ["b a a", "c b a", "d"]
    vocabulary = build_vocabulary(texts, example.basic_english_tokenize, "<unk>", 2)
    assert vocabulary == ["<unk>", "a", "b"]


def test_batch_and_single_predictions_agree(example, tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("<unk>\ncars\nlove\nhate\n")
    torch.manual_seed(0)
    model = example.EmbeddingBagTextClassifier(str(vocab), 8, ["negative", "neutral", "positive"])
    ids, offsets = model.encode(["I love cars", "", "hate"])
    assert ids.tolist() == [0, 2, 1, 0, 3] and offsets.tolist() == [0, 3, 4]
    texts = ["I love cars", "hate hate", "unknown words only"]
    assert model.predict_batch(texts) == [model.predict_single(t) for t in texts]
    with pytest.raises(ValueError, match="empty"):
        model.predict_single("   ")


def test_vocabulary_file_must_start_with_the_unknown_token(example, tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("cars\n<unk>\n")
    with pytest.raises(ValueError, match="must start with the line '<unk>'"):
        example.read_vocabulary(vocab)
