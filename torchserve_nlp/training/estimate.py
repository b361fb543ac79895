"""How long training the default models will take on this machine, before any of it starts.

The work of each run is counted exactly as its trainer will do it (its data, tokenizer,
length-bucketed batches and epochs, in tokens with padding); the machine's pace is measured on
a few training steps of the same encoder in the precision training will use. A few seconds
of measuring for a build of several minutes, so that the console says up front what to expect.
"""

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from torchserve_nlp.training.batching import bucketed_batches, epoch_seed, padding_stats
from torchserve_nlp.training.fine_tuning import (
    DEFAULT_FROZEN_LAYERS,
    freeze_lower_layers,
    freeze_word_embeddings,
)
from torchserve_nlp.training.pace import Pace, remaining_seconds
from torchserve_nlp.training.precision import Precision, autocast

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingWork:
    name: str
    train_tokens: int  # padded tokens of all epochs' batches
    eval_tokens: int  # tokens of all held-out evaluations (forward only)
    # As the trainer's settings: what is frozen makes steps faster.
    freeze_embeddings: bool = False
    frozen_layers: int = 0

    @property
    def frozen(self) -> tuple[bool, int]:
        return self.freeze_embeddings, self.frozen_layers


def bucketed_tokens(lengths: Sequence[int], batch_size: int, seed: int, epochs: int,
                    pool_batches: int) -> int:
    """Padded tokens of ``epochs`` epochs of length-bucketed batches, as the trainers make
    them."""
    return sum(
        padding_stats(lengths, bucketed_batches(lengths, batch_size, epoch_seed(seed, epoch),
                                                pool_batches)).padded_tokens
        for epoch in range(epochs)
    )


def total_seconds(works: Sequence[TrainingWork], pace: Pace) -> float:
    """Training and evaluation time of all ``works`` at ``pace``."""
    return sum(remaining_seconds(pace, w.train_tokens, w.eval_tokens) for w in works)


def parallel_seconds(seconds: Sequence[float], jobs: int) -> float:
    """How long runs of ``seconds`` take ``jobs`` at a time, the longest started first
    (each run to the lane that frees up first)."""
    lanes = [0.0] * max(1, jobs)
    for run in sorted(seconds, reverse=True):
        lanes[lanes.index(min(lanes))] += run
    return max(lanes)


def sentiment_work() -> TrainingWork:
    from transformers import BertTokenizerFast

    from torchserve_nlp.data.offline_assets import minilm_dir
    from torchserve_nlp.data.sentiment_data import read_binary_sentiment, split
    from torchserve_nlp.training.sentiment_training import TrainingConfig, tokenize

    config = TrainingConfig(Path("."))
    data = split(read_binary_sentiment(), config.test_fraction, config.seed)
    tokenizer = BertTokenizerFast(vocab=str(minilm_dir() / "vocab.txt"), do_lower_case=True)
    lengths = [len(ids) for ids in tokenize(tokenizer, data.train, config.max_length)]
    held = sum(len(ids) for ids in tokenize(tokenizer, data.test, config.max_length))
    return TrainingWork("the sentiment model", bucketed_tokens(
        lengths, config.batch_size, config.seed, config.epochs, config.pool_batches), held,
        config.freeze_embeddings, config.frozen_layers)


def ner_work() -> TrainingWork:
    from transformers import AutoTokenizer

    from torchserve_nlp.data.ner_data import read_bio, split
    from torchserve_nlp.data.offline_assets import minilm_dir, optimus_ner_txt
    from torchserve_nlp.training.token_classifier_training import TrainSettings, encode

    settings = TrainSettings(Path("."))
    train, held = split(read_bio(optimus_ner_txt()), settings.held_out, settings.seed)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir(), local_files_only=True)
    lengths = [len(item["input_ids"]) for item in encode(tokenizer, train, settings.max_length)]
    held_tokens = sum(len(i["input_ids"]) for i in encode(tokenizer, held, settings.max_length))
    return TrainingWork("the NER model", bucketed_tokens(
        lengths, settings.batch_size, settings.seed, settings.epochs, settings.pool_batches),
        held_tokens * (settings.epochs if settings.evaluate_every_epoch else 1),
        settings.freeze_embeddings, settings.frozen_layers)


def qa_work() -> TrainingWork:
    from transformers import AutoTokenizer

    from torchserve_nlp.data.offline_assets import minilm_dir, optimus_ner_txt
    from torchserve_nlp.data.qa_data import build_qa_split
    from torchserve_nlp.training.qa_training import QATrainSettings, encode

    s = QATrainSettings(Path("."))
    data = build_qa_split(optimus_ner_txt(), held_out=s.held_out, seed=s.seed,
                          max_tweets=s.max_tweets)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir(), local_files_only=True)
    lengths = [len(f.input_ids) for f in encode(tokenizer, data.train, s.max_length, s.doc_stride)]
    held = sum(len(f.input_ids) for f in encode(tokenizer, data.held_out, s.max_length,
                                                 s.doc_stride))
    return TrainingWork("the question-answering model", bucketed_tokens(
        lengths, s.batch_size, s.seed, s.epochs, s.pool_batches),
        held * (s.epochs if s.evaluate_every_epoch else 1),
        s.freeze_embeddings, s.frozen_layers)


WORK = {"sentiment": sentiment_work, "ner": ner_work, "qa": qa_work}


def measure_pace(
    precision: Precision, steps: int = 3, batch: int = 16, length: int = 64,
    frozen: tuple[bool, int] = (False, DEFAULT_FROZEN_LAYERS),
) -> Pace:
    """Training steps of the packaged encoder on random ids (after one warm-up step), with
    ``frozen`` (word embeddings, lowest layers) as a training run freezes them."""
    from transformers import BertForSequenceClassification

    from torchserve_nlp.data.offline_assets import minilm_dir

    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(minilm_dir(), num_labels=2)
    freeze_embeddings, frozen_layers = frozen
    if freeze_embeddings:
        freeze_word_embeddings(model)
    freeze_lower_layers(model, frozen_layers)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=1e-9)
    ids = torch.randint(1000, 20000, (batch, length))
    labels = torch.zeros(batch, dtype=torch.long)
    model.train()
    seconds = 0.0
    for step in range(steps + 1):
        began = time.perf_counter()
        with autocast(precision):
            loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step:
            seconds += time.perf_counter() - began
    return Pace(steps * batch * length, seconds)
