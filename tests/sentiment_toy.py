"""A tiny BERT sentiment classifier trained in seconds on sentences whose label is decided by
one keyword (none: Neutral), so the word an explanation should single out is known. Label
smoothing keeps its probabilities off 0 and 1, so integrated gradients' path is smooth."""

import json
import random
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

from torchserve_nlp.data.offline_assets import minilm_dir

POSITIVE = ("wonderful", "great", "lovely", "excellent")
NEGATIVE = ("terrible", "awful", "horrible", "dreadful")
OPENINGS = ("the movie was", "my day has been", "this phone is", "our trip felt",
            "the service here is", "that song sounds", "his new book is", "the food was")
ENDINGS = ("", "today", "as usual", "to be honest", "again", "for sure")
LABELS = ("Negative", "Neutral", "Positive")
KEYWORDS = {0: NEGATIVE, 2: POSITIVE}


def distractors(tokenizer: BertTokenizerFast) -> list[str]:
    """Whole-word, alphabetic vocabulary entries other than the keywords."""
    keywords = set(POSITIVE + NEGATIVE)
    return sorted(w for w in tokenizer.vocab if w.isalpha() and w.isascii() and len(w) > 2
                  and w not in keywords)


def sentences(rng: random.Random, count: int, words: list[str] | None = None) -> list:
    """(text, label): an opening, the keyword somewhere among random distractor words."""
    rows = []
    for _ in range(count):
        label = rng.randrange(3)
        filler = rng.sample(words, rng.randint(0, 6)) if words else []
        if label in KEYWORDS:
            filler.insert(rng.randint(0, len(filler)), rng.choice(KEYWORDS[label]))
        text = " ".join([rng.choice(OPENINGS), *filler, rng.choice(ENDINGS)]).strip()
        rows.append((text, label))
    return rows


def train_toy_sentiment(out: Path, steps: int = 800) -> Path:
    torch.manual_seed(0)
    rng = random.Random(0)
    tokenizer = BertTokenizerFast(vocab=str(minilm_dir() / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, max_position_embeddings=128,
        id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)},
    )
    model = BertForSequenceClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    words = distractors(tokenizer)
    for _ in range(steps):
        batch = sentences(rng, 16, words)
        encoded = tokenizer([text for text, _ in batch], padding=True, return_tensors="pt")
        logits = model(**encoded).logits
        loss = torch.nn.functional.cross_entropy(
            logits, torch.tensor([label for _, label in batch]), label_smoothing=0.2
        )
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    out.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    setup = {"model_name": "toy-sentiment", "mode": "sequence_classification", "max_length": 64}
    (out / "setup_config.json").write_text(json.dumps(setup))
    return out
