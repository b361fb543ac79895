"""Extractive question answering with a Transformer: (question, context) → answer span.

Each context is split into windows of ``max_length`` tokens (question included) that overlap
by ``doc_stride`` context tokens; all windows of all requests of a batch go through one
forward, padded to the longest window. The best span over all windows of a question is
decoded as transformers 4.x's QuestionAnsweringPipeline does (postprocess.qa_spans), with
character offsets into the context as it was sent. ``top_k`` > 1 answers with a list.
"""

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoModelForQuestionAnswering

from nlp_runtime.base import BatchHandler
from nlp_runtime.batch_metrics import ForwardFigures
from nlp_runtime.errors import RequestError
from nlp_runtime.explain.transformer import (
    METHOD,
    explain_windows,
    gradient_requests,
    metadata,
    qa_span_logits,
    window_words,
)
from nlp_runtime.hf.config import Mode, load_handler_config
from nlp_runtime.hf.model import load_model, load_tokenizer, too_many_windows
from nlp_runtime.hf.windows import Window, Windows
from nlp_runtime.postprocess.qa_spans import Answer, QAWindow, extract_answers
from nlp_runtime.wire.explain import ExplainOptions
from nlp_runtime.wire.qa import QARequest, decode_qa_request, encode_answers

OUTPUTS = ("start_logits", "end_logits")


class QuestionAnswering(BatchHandler):
    def load(self, model_dir: Path, context: Any) -> None:
        config = load_handler_config(
            model_dir, getattr(context, "model_yaml_config", None), Mode.QUESTION_ANSWERING
        )
        self.config = config
        self.tokenizer = load_tokenizer(model_dir, config, need_offsets=True)
        # The question and the overlap must leave room for at least one new context token.
        self.max_question_tokens = (
            config.max_length - self.tokenizer.num_special_tokens_to_add(pair=True)
            - config.doc_stride - 1
        )
        if self.max_question_tokens < 1:
            raise ValueError(
                f"'max_length' {config.max_length} leaves no room for a question beside "
                f"'doc_stride' {config.doc_stride}; raise max_length or lower doc_stride"
            )
        self.model = load_model(
            model_dir, config, AutoModelForQuestionAnswering, OUTPUTS,
            context.manifest["model"]["serializedFile"],
        )

    def decode_request(self, request: dict[str, Any], content_type: str) -> QARequest:
        return decode_qa_request(request, content_type, self.config)

    def preprocess(self, items: Sequence[QARequest]) -> Windows:
        """Every question that fits, paired with its context's windows, tokenized together."""
        errors = self._check_questions(items)
        ready = [i for i, error in enumerate(errors) if error is None]
        encoded = self.tokenizer(
            [items[i].question for i in ready],
            [items[i].context for i in ready],
            truncation="only_second",
            max_length=self.config.max_length,
            stride=self.config.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            return_token_type_ids=True,
            padding="longest",
            return_tensors="np",
        ) if ready else None
        return Windows.of(encoded, errors, ready, self.config)

    def forward(self, batch: Windows) -> tuple[np.ndarray, ...]:
        if batch.encoded is None or not batch.keep.any():
            empty = np.zeros((0, 0), dtype=np.float32)
            return empty, empty
        return batch.forward(self.model.forward)

    def forward_figures(self, batch: Windows) -> ForwardFigures:
        return batch.figures()

    def postprocess(
        self, items: Sequence[QARequest], batch: Windows, outputs: tuple[np.ndarray, ...]
    ) -> list[Any]:
        start_logits, end_logits = outputs
        results: list[Any] = list(batch.errors)
        kept = np.flatnonzero(batch.keep)
        for position, index in enumerate(batch.ready):
            if batch.counts[position] > self.config.max_windows:
                results[index] = too_many_windows(
                    int(batch.counts[position]), self.config, "context"
                )
                continue
            windows = [
                self._window(batch.encoded, row, start_logits, end_logits,
                             np.searchsorted(kept, row))
                for row in batch.rows_of(position)
            ]
            results[index] = extract_answers(items[index].context, windows, items[index].options)
        return results

    def encode_response(self, item: QARequest, prediction: list[Answer]) -> Any:
        return encode_answers(prediction, item.options.top_k)

    def mark_for_explanation(self, item: QARequest) -> QARequest:
        return replace(item, explain=item.explain or ExplainOptions())

    def explain_batch(
        self, items: Sequence[QARequest], batch: Windows, predictions: list[Any]
    ) -> list[Any]:
        """Attributions to the best answer's start and end logits, in the first of the
        batch's windows of its context that holds it."""
        results, ready = gradient_requests(
            items, predictions, self.model.eager is not None, "question answering"
        )
        jobs = [
            (i, *self._answer_window(batch, batch.ready.index(i), predictions[i][0]))
            for i in ready
        ]
        if jobs:
            found = explain_windows(
                self.model.eager, qa_span_logits, [window for _, window, _ in jobs],
                [span for _, _, span in jobs], [items[i].explain.n_steps for i, _, _ in jobs],
                self.tokenizer.pad_token_id,
            )
            for (i, window, _), (result, row) in zip(jobs, found, strict=True):
                item, answer = items[i], predictions[i][0]
                results[i] = {
                    "method": METHOD,
                    "target": answer.answer,
                    "text": item.context,
                    "attributions": window_words(item.context, result, row, window, 1),
                    "question_attributions": window_words(item.question, result, row, window, 0),
                    **metadata(result, row, item.explain.n_steps),
                }
        return results

    def _answer_window(
        self, batch: Windows, position: int, answer: Answer
    ) -> tuple[Window, tuple[int, int]]:
        """The first window holding the whole answer (any window for no answer) and the
        answer's first and last token there ([CLS] for no answer)."""
        for row in batch.rows_of(position):
            window = batch.window(int(row))
            offsets = window.offsets
            overlapping = [
                t for t, s in enumerate(window.sequence_ids)
                if s == 1 and offsets[t][0] < answer.end and offsets[t][1] > answer.start
            ]
            covers = bool(overlapping) and offsets[overlapping[0]][0] <= answer.start and (
                offsets[overlapping[-1]][1] >= answer.end
            )
            if covers or answer.answer == "":
                span = (overlapping[0], overlapping[-1]) if answer.answer else (0, 0)
                return window, span
        raise RuntimeError(f"answer {answer} is in no window of its own context")

    def _check_questions(self, items: Sequence[QARequest]) -> list[RequestError | None]:
        """A 400 for each question too long to leave room for its context (the tokenizer would
        panic, taking the whole batch down); one tokenizer call for the batch."""
        lengths = map(len, self.tokenizer(
            [item.question for item in items], add_special_tokens=False
        )["input_ids"])
        return [
            RequestError(
                f"question has {tokens} tokens; at most {self.max_question_tokens} fit in a "
                f"window of 'max_length' {self.config.max_length} beside the context"
            ) if tokens > self.max_question_tokens else None
            for tokens in lengths
        ]

    def _window(
        self, encoded: Any, row: int, start: np.ndarray, end: np.ndarray, kept: int
    ) -> QAWindow:
        width = start.shape[1]
        sequence_ids = encoded.sequence_ids(int(row))[:width]
        return QAWindow(
            start_logits=start[kept],
            end_logits=end[kept],
            context=np.array([s == 1 for s in sequence_ids]),
            offsets=encoded["offset_mapping"][row, :width],
            word_ids=encoded.word_ids(int(row))[:width],
        )
