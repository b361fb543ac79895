"""Small question-answering models on the real uncased vocabulary, saved as training saves one.

* ``random_qa_model``: seeded random weights with a scaled head, so span scores are varied
  and tie-free: good for comparing decoders.
* ``planted_qa_model``: no encoder layers and hand-set embeddings, so the answer is known:
  it starts at the word ``zebra`` and ends inside the word ``giraffe`` (at its middle piece
  ``##raf``, so word alignment matters); [CLS] (no answer) scores between those and every
  other token.
"""

import json
from pathlib import Path

import torch
from transformers import BertConfig, BertForQuestionAnswering, BertTokenizerFast

from torchserve_nlp.data.offline_assets import minilm_dir

START_WORD, END_WORD, END_PIECE = "zebra", "giraffe", "##raf"


def _tokenizer() -> BertTokenizerFast:
    return BertTokenizerFast(vocab=str(minilm_dir() / "vocab.txt"), do_lower_case=True)


def _save(model: BertForQuestionAnswering, tokenizer, out: Path, **setup) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    config = {"model_name": "tiny-qa", "mode": "question_answering", "do_lower_case": True,
              "save_mode": "pretrained", **setup}
    (out / "setup_config.json").write_text(json.dumps(config))
    return out


def random_qa_model(out: Path, seed: int = 0, **setup) -> Path:
    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, max_position_embeddings=512,
    )
    model = BertForQuestionAnswering(config).eval()
    with torch.no_grad():
        model.qa_outputs.weight.mul_(10.0)
    return _save(model, tokenizer, out, **setup)


def planted_qa_model(out: Path, **setup) -> Path:
    """Embedding dimension 0 marks answer starts, dimension 1 answer ends; the head reads
    them out. Position and segment embeddings are zero, so a word scores the same anywhere."""
    torch.manual_seed(0)
    tokenizer = _tokenizer()
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=0,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=512,
    )
    model = BertForQuestionAnswering(config).eval()
    embeddings = model.bert.embeddings
    with torch.no_grad():
        words = embeddings.word_embeddings.weight
        words.normal_(0.0, 1.0)
        words[:, :2] = -3.0
        start_id, end_id = tokenizer.convert_tokens_to_ids([START_WORD, END_PIECE])
        words[start_id, 0] = 30.0
        words[end_id, 1] = 30.0
        words[tokenizer.cls_token_id, :2] = 0.0
        embeddings.position_embeddings.weight.zero_()
        embeddings.token_type_embeddings.weight.zero_()
        model.qa_outputs.weight.zero_()
        model.qa_outputs.bias.zero_()
        model.qa_outputs.weight[0, 0] = 5.0
        model.qa_outputs.weight[1, 1] = 5.0
    return _save(model, tokenizer, out, **setup)
