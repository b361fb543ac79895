"""A handler whose batched forward fails if any request holds ``poison``, as a model whose
kernels fail on one input would, for tests of the base handler's isolation."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlp_runtime.base import BatchHandler
from nlp_runtime.wire.text import decode_text_request

DECODER_BUG = "explode while decoding"
ENCODER_BUG = "explode while encoding"


class Poisonable(BatchHandler):
    """Answers each text with its length; counts forwards."""

    def load(self, model_dir: Path, context: Any) -> None:
        self.forwards = 0

    def decode_request(self, request: dict[str, Any], content_type: str) -> str:
        text = decode_text_request(request, content_type).text
        if text == DECODER_BUG:
            raise KeyError("a decoder bug")
        return text

    def preprocess(self, items: Sequence[str]) -> list[str]:
        return [text.upper() for text in items]

    def forward(self, batch: list[str]) -> list[int]:
        self.forwards += 1
        if any("POISON" in text for text in batch):
            raise FloatingPointError(f"kernel failed on a batch of {len(batch)}")
        return [len(text) for text in batch]

    def encode_response(self, item: str, prediction: int) -> dict[str, Any]:
        if item == ENCODER_BUG:
            raise OverflowError("an encoder bug")
        return {"text": item, "length": prediction}
