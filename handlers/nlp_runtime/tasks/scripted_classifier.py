"""Handler for a TorchScript file that holds tokenizer and classifier together.

The scripted module takes ``List[str]`` and returns logits, so serving needs no tokenizer
files and cannot drift from the tokenizer used in training.

It gives no explanations: integrated gradients need an eager model to differentiate, and
SHAP needs numpy and shap, which this archive (served on torch and torchserve alone) does not
require. A request sent to /explanations or with ``"explain"`` (true or an object) in its JSON
body is refused with a 400 naming an archive that explains (``mark_for_explanation``) rather
than answered as if it had not asked; the rest of its batch is answered.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nlp_runtime.base import BatchHandler
from nlp_runtime.files import INDEX_TO_NAME
from nlp_runtime.postprocess.classification import label_probabilities, read_index_to_name, softmax
from nlp_runtime.wire.text import TextRequest, decode_text_request


class ScriptedTextClassifier(BatchHandler):
    def load(self, model_dir: Path, context: Any) -> None:
        serialized = context.manifest["model"]["serializedFile"]
        self.model = torch.jit.load(str(model_dir / serialized), map_location="cpu").eval()
        with torch.inference_mode():  # labels for every class, checked here, not per batch
            classes = self.model(["a"]).shape[-1]
        self.labels = read_index_to_name(model_dir / INDEX_TO_NAME, classes)

    def decode_request(self, request: dict[str, Any], content_type: str) -> TextRequest:
        item = decode_text_request(request, content_type)
        return item if item.explain is None else self.mark_for_explanation(item)

    def preprocess(self, items: Sequence[TextRequest]) -> list[str]:
        return [item.text for item in items]  # the scripted module tokenizes

    def forward(self, texts: list[str]) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(texts)

    def postprocess(
        self, items: Sequence[TextRequest], texts: list[str], logits: torch.Tensor
    ) -> list[dict[str, float]]:
        return label_probabilities(softmax(logits), self.labels)
