"""Extractive question answering with a Transformer: (question, context) → answer span.

Each context is split into windows of ``max_length`` tokens (question included) that overlap
by ``doc_stride`` context tokens; all windows of all requests of a batch go through one
forward, padded to the longest window. The best span over all windows of a question is
decoded as transformers 4.x's QuestionAnsweringPipeline does (postprocess.qa_spans), with
character offsets into the context as it was sent. ``top_k`` > 1 answers with a list.
"""

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoModelForQuestionAnswering

from nlp_runtime.base import BatchHandler
from nlp_runtime.errors import RequestError
from nlp_runtime.explain.transformer import (
    METHOD,
    Window,
    explain_windows,
    gradient_requests,
    metadata,
    qa_span_logits,
    window_words,
)
from nlp_runtime.hf.config import Mode, load_handler_config
from nlp_runtime.hf.model import (
    forward_windows,
    load_model,
    load_tokenizer,
    too_many_windows,
    window_counts,
)
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

    def predict(self, inputs: list[QARequest]) -> list[Any]:
        results: list[Any] = self._check_questions(inputs)
        ready = [i for i, result in enumerate(results) if result is None]
        if not ready:
            return results
        encoded = self.tokenizer(
            [inputs[i].question for i in ready],
            [inputs[i].context for i in ready],
            truncation="only_second",
            max_length=self.config.max_length,
            stride=self.config.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_token_type_ids=True,
            padding="longest",
            return_tensors="np",
        )
        owner = encoded["overflow_to_sample_mapping"]
        counts, keep = window_counts(owner, len(ready), self.config.max_windows)
        start_logits, end_logits = self._logits(encoded, keep)
        rows = np.flatnonzero(keep)
        for position, index in enumerate(ready):
            if counts[position] > self.config.max_windows:
                results[index] = too_many_windows(int(counts[position]), self.config, "context")
                continue
            item = inputs[index]
            windows = [
                self._window(encoded, row, start_logits, end_logits, np.searchsorted(rows, row))
                for row in np.flatnonzero(owner == position)
            ]
            answers = extract_answers(item.context, windows, item.options)
            results[index] = (answers, item.options.top_k)
        return results

    def encode_response(self, output: tuple[list[Answer], int]) -> Any:
        answers, top_k = output
        return encode_answers(answers, top_k)

    def mark_for_explanation(self, item: QARequest) -> QARequest:
        return replace(item, explain=item.explain or ExplainOptions())

    def explain_batch(self, items: list[QARequest], outputs: list[Any]) -> list[Any]:
        """Attributions to the best answer's start and end logits, in its window."""
        results, ready = gradient_requests(
            items, outputs, self.model.eager is not None, "question answering"
        )
        jobs = [(i, *self._answer_window(items[i], outputs[i][0][0])) for i in ready]
        if jobs:
            found = explain_windows(
                self.model.eager, qa_span_logits, [window for _, window, _ in jobs],
                [span for _, _, span in jobs], [items[i].explain.n_steps for i, _, _ in jobs],
                self.tokenizer.pad_token_id,
            )
            for (i, window, _), (result, row) in zip(jobs, found, strict=True):
                item, answer = items[i], outputs[i][0][0]
                results[i] = {
                    "method": METHOD,
                    "target": answer.answer,
                    "text": item.context,
                    "attributions": window_words(item.context, result, row, window, 1),
                    "question_attributions": window_words(item.question, result, row, window, 0),
                    **metadata(result, row, item.explain.n_steps),
                }
        return results

    def _answer_window(self, item: QARequest, answer: Answer) -> tuple[Window, tuple[int, int]]:
        """The first window holding the whole answer (any window for no answer) and the
        answer's first and last token there ([CLS] for no answer)."""
        encoded = self.tokenizer(
            item.question, item.context, truncation="only_second",
            max_length=self.config.max_length, stride=self.config.doc_stride,
            return_overflowing_tokens=True, return_offsets_mapping=True,
            return_special_tokens_mask=True, return_token_type_ids=True,
        )
        for row in range(len(encoded["input_ids"])):
            sequence_ids = encoded.sequence_ids(row)
            offsets = np.asarray(encoded["offset_mapping"][row])
            overlapping = [
                t for t, s in enumerate(sequence_ids)
                if s == 1 and offsets[t][0] < answer.end and offsets[t][1] > answer.start
            ]
            covers = bool(overlapping) and offsets[overlapping[0]][0] <= answer.start and (
                offsets[overlapping[-1]][1] >= answer.end
            )
            if covers or answer.answer == "":
                span = (overlapping[0], overlapping[-1]) if answer.answer else (0, 0)
                window = Window(
                    input_ids=np.asarray(encoded["input_ids"][row]),
                    token_type_ids=np.asarray(encoded["token_type_ids"][row]),
                    special=np.asarray(encoded["special_tokens_mask"][row], dtype=bool),
                    offsets=offsets,
                    word_ids=encoded.word_ids(row),
                    sequence_ids=sequence_ids,
                )
                return window, span
        raise RuntimeError(f"answer {answer} is in no window of its own context")

    def _check_questions(self, items: list[QARequest]) -> list[RequestError | None]:
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

    def _logits(self, encoded: Any, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not keep.any():
            empty = np.zeros((0, 0), dtype=np.float32)
            return empty, empty
        start, end = forward_windows(self.model.forward, encoded, keep)
        return start, end

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
