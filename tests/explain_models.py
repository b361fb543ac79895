"""Analytic models on which integrated gradients (IG) has a closed form, to check the handlers'
attributions against the mathematics instead of against captum's own bookkeeping.

All take ``input_ids, attention_mask, token_type_ids`` and expose ``get_input_embeddings()`` as
a Transformer does, compute in float64, and seed their weights.

* ``BagOfEmbeddings`` (sequence classification, two labels): logits = head(Σ_t mask_t·e_t).
  With w = w_target − w_other, the target's probability is σ(z), z(α) = z(b) + α·Σ_j c_j
  along IG's straight path, c_i = (e_i − b_i)·w. The gradient with respect to e_i is
  σ'(z)·w at every point, so attribution_i = c_i·∫σ'(z(α))dα
  = (c_i / Σ_j c_j)·(p(x) − p(b)).
* ``TokenwiseQA`` and ``TokenwiseTagger``: a token's outputs depend on its own embedding only.
  An objective that is a sum of per-token terms f_t(e_t) then has ∂/∂e_i = ∇f_i(e_i) (zero for
  tokens without a term), so by the fundamental theorem of calculus along the path,
  attribution_i = f_i(e_i) − f_i(b_i), whatever the nonlinearity.
"""

import json
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast
from transformers.modeling_outputs import (
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

from torchserve_nlp.data.offline_assets import minilm_dir

DTYPE = torch.float64


def uncased_tokenizer() -> BertTokenizerFast:
    return BertTokenizerFast(vocab=str(minilm_dir() / "vocab.txt"), do_lower_case=True)


def _normal(generator: torch.Generator, *shape: int, scale: float = 1.0) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.randn(*shape, generator=generator, dtype=DTYPE) * scale)


class _Embedded(torch.nn.Module):
    def __init__(self, vocab_size: int, dim: int, seed: int, scale: float) -> None:
        super().__init__()
        self.generator = torch.Generator().manual_seed(seed)
        self.embeddings = torch.nn.Embedding(vocab_size, dim, dtype=DTYPE)
        self.embeddings.weight = _normal(self.generator, vocab_size, dim, scale=scale)

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.embeddings


class BagOfEmbeddings(_Embedded):
    """Sequence classifier: a linear head over the masked sum of the word embeddings."""

    def __init__(self, vocab_size: int, num_labels: int = 2, dim: int = 8, seed: int = 0):
        super().__init__(vocab_size, dim, seed, scale=0.3)
        self.weight = _normal(self.generator, num_labels, dim)
        self.bias = _normal(self.generator, num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        pooled = (self.embeddings(input_ids) * attention_mask[..., None]).sum(1)
        return SequenceClassifierOutput(logits=pooled @ self.weight.T + self.bias)


class TokenwiseQA(_Embedded):
    """Start and end logits of each token from its own embedding: 3·tanh(e_0) + softplus(e·u)
    for starts (e_1 and v for ends). Tokens in ``starts`` get e_0 = 3 (every other token −1),
    tokens in ``ends`` e_1 = 3, so the best answer runs from a start token to an end token."""

    def __init__(self, vocab_size: int, starts: list[int], ends: list[int], dim: int = 8,
                 seed: int = 0):
        super().__init__(vocab_size, dim, seed, scale=1.0)
        self.u = _normal(self.generator, dim, scale=0.3)
        self.v = _normal(self.generator, dim, scale=0.3)
        with torch.no_grad():
            self.embeddings.weight[:, :2] = -1.0
            self.embeddings.weight[starts, 0] = 3.0
            self.embeddings.weight[ends, 1] = 3.0

    def logits(self, embedded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start = 3 * torch.tanh(embedded[..., 0]) + torch.nn.functional.softplus(embedded @ self.u)
        end = 3 * torch.tanh(embedded[..., 1]) + torch.nn.functional.softplus(embedded @ self.v)
        return start, end

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        start, end = self.logits(self.embeddings(input_ids))
        return QuestionAnsweringModelOutput(start_logits=start, end_logits=end)


class TokenwiseTagger(_Embedded):
    """Token classifier: logits_t = 2·tanh(e_t·A)·B + bias + e_t[:labels], from token t's
    embedding only. A token of ``planted`` (id → label index) has 8 in that label's dimension
    and 0 in the other labels', so a run of planted tokens is one multi-token entity."""

    def __init__(self, vocab_size: int, num_labels: int, planted: dict[int, int],
                 dim: int = 16, seed: int = 0):
        super().__init__(vocab_size, dim, seed, scale=1.0)
        self.num_labels = num_labels
        self.a = _normal(self.generator, dim, dim, scale=dim**-0.5)
        self.b = _normal(self.generator, dim, num_labels, scale=dim**-0.5)
        self.bias = _normal(self.generator, num_labels)
        with torch.no_grad():
            for token, label in planted.items():
                self.embeddings.weight[token, :num_labels] = 0.0
                self.embeddings.weight[token, label] = 8.0

    def logits(self, embedded: torch.Tensor) -> torch.Tensor:
        nonlinear = 2 * torch.tanh(embedded @ self.a) @ self.b
        return nonlinear + self.bias + embedded[..., : self.num_labels]

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        return TokenClassifierOutput(logits=self.logits(self.embeddings(input_ids)))


def save_two_label_classifier(out: Path, labels: tuple[str, str]) -> Path:
    """A minimal pretrained sequence-classification directory (tokenizer, config with the
    labels, setup_config.json) for a handler whose model a test then replaces."""
    tokenizer = uncased_tokenizer()
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=4, num_hidden_layers=0,
        num_attention_heads=1, intermediate_size=4, max_position_embeddings=64,
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
    )
    out.mkdir(parents=True, exist_ok=True)
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    setup = {"model_name": "shell", "mode": "sequence_classification", "max_length": 64}
    (out / "setup_config.json").write_text(json.dumps(setup))
    return out
