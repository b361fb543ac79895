"""Handler for a TorchScript file that holds tokenizer and classifier together.

The scripted module takes ``List[str]`` and returns logits, so serving needs no tokenizer
files and cannot drift from the tokenizer used in training.
"""

from pathlib import Path
from typing import Any

import torch
from batch_handler_base import BatchHandler
from classification_postprocess import label_probabilities, read_index_to_name, softmax
from text_request import TextRequest, decode_text_request


class ScriptedTextClassifierHandler(BatchHandler):
    def load(self, model_dir: Path, context: Any) -> None:
        serialized = context.manifest["model"]["serializedFile"]
        self.model = torch.jit.load(str(model_dir / serialized), map_location="cpu").eval()
        self.labels = read_index_to_name(model_dir / "index_to_name.json")

    def decode_request(self, request: dict[str, Any], content_type: str) -> TextRequest:
        return decode_text_request(request, content_type)

    def predict(self, inputs: list[TextRequest]) -> list[dict[str, float]]:
        with torch.inference_mode():
            logits = self.model([item.text for item in inputs])
        return label_probabilities(softmax(logits), self.labels)
