"""Extractive question answering with a Transformer: (question, context) → answer span.

Each context is split into windows of ``max_length`` tokens (question included) that overlap
by ``doc_stride`` context tokens; all windows of all requests of a batch go through one
forward, padded to the longest window. The best span over all windows of a question is
decoded as transformers 4.x's QuestionAnsweringPipeline does (qa_span_decoding), with
character offsets into the context as it was sent. ``top_k`` > 1 answers with a list.
"""

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from batch_handler_base import BatchHandler, RequestError
from qa_request import QARequest, decode_qa_request, encode_answers
from qa_span_decoding import Answer, QAWindow, extract_answers
from transformer_config import Mode, load_handler_config
from transformer_model import load_forward, load_tokenizer, too_many_windows, window_counts
from transformers import AutoModelForQuestionAnswering

logger = logging.getLogger(__name__)
OUTPUTS = ("start_logits", "end_logits")


class QuestionAnsweringHandler(BatchHandler):
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
        self.forward = load_forward(
            model_dir, config, AutoModelForQuestionAnswering, OUTPUTS,
            context.manifest["model"]["serializedFile"],
        )

    def decode_request(self, request: dict[str, Any], content_type: str) -> QARequest:
        return decode_qa_request(request, content_type, self.config)

    def predict(self, inputs: list[QARequest]) -> list[Any]:
        results: list[Any] = [self._check_question(item) for item in inputs]
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

    def _check_question(self, item: QARequest) -> RequestError | None:
        tokens = len(self.tokenizer(item.question, add_special_tokens=False)["input_ids"])
        if tokens > self.max_question_tokens:
            return RequestError(
                f"question has {tokens} tokens; at most {self.max_question_tokens} fit in a "
                f"window of 'max_length' {self.config.max_length} beside the context"
            )
        return None

    def _logits(self, encoded: Any, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits of the kept windows: one forward, trimmed to their longest."""
        if not keep.any():
            empty = np.zeros((0, 0), dtype=np.float32)
            return empty, empty
        width = int(encoded["attention_mask"][keep].sum(axis=1).max())
        features = {
            name: torch.from_numpy(encoded[name][keep][:, :width])
            for name in ("input_ids", "attention_mask", "token_type_ids")
        }
        with torch.inference_mode():
            start, end = self.forward(features)
        logger.info("forward over %d windows of %d tokens", *features["input_ids"].shape)
        return start.float().numpy(), end.float().numpy()

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
