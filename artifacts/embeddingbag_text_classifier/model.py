"""The classic bag-of-embeddings text classifier: mean of token embeddings, then a linear
layer. Packaged with torchserve_nlp.package_model; this file travels inside the archive.

The vocabulary is a file (one token per line, line number = token id, line 0 the unknown
token) so serving never rebuilds it from a dataset.
"""

import re
from pathlib import Path

import torch
from torch import nn

UNKNOWN_TOKEN = "<unk>"
# Punctuation that becomes a token of its own, the way torchtext's basic_english splits it.
_SEPARATED = re.compile(r"([.,()!?'])")
_DROPPED = re.compile(r"<br\s*/?>|[\";:]")


def basic_english_tokenize(text: str) -> list[str]:
    """Lower-case, drop double quotes, semicolons, colons and <br />, split off . , ( ) ! ?
    and apostrophes as tokens, then split on whitespace."""
    return _SEPARATED.sub(r" \1 ", _DROPPED.sub(" ", text.lower())).split()


def read_vocabulary(path: str | Path) -> dict[str, int]:
    tokens = Path(path).read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens or tokens[0] != UNKNOWN_TOKEN:
        raise ValueError(f"vocabulary {path} must start with the line {UNKNOWN_TOKEN!r}")
    return {token: index for index, token in enumerate(tokens)}


class EmbeddingBagTextClassifier(nn.Module):
    def __init__(self, vocab_path: str, embed_dim: int, labels: list[str]) -> None:
        super().__init__()
        self.vocab_path = vocab_path
        self.embed_dim = embed_dim
        self.labels = list(labels)
        self.vocabulary = read_vocabulary(vocab_path)
        self.embedding = nn.EmbeddingBag(len(self.vocabulary), embed_dim, mode="mean")
        self.classifier = nn.Linear(embed_dim, len(self.labels))

    def forward(self, token_ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embedding(token_ids, offsets))

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids of all texts concatenated, and where each text starts."""
        ids: list[int] = []
        offsets: list[int] = []
        for text in texts:
            offsets.append(len(ids))
            # A text with no tokens would be an empty bag (all-zero embedding); give it
            # the unknown token instead so every text is classified the same way.
            tokens = basic_english_tokenize(text) or [UNKNOWN_TOKEN]
            ids.extend(self.vocabulary.get(token, 0) for token in tokens)
        return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)

    def predict_batch(self, texts: list[str]) -> list[str]:
        empty = [index for index, text in enumerate(texts) if not text.strip()]
        if empty:
            raise ValueError(f"texts {empty} are empty; send at least one word")
        logits = self(*self.encode(texts))
        return [self.labels[index] for index in logits.argmax(dim=1).tolist()]

    def predict_single(self, text: str) -> str:
        return self.predict_batch([text])[0]
