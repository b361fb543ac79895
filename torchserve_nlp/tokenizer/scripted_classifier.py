"""Script a BERT classifier together with its tokenizer into one TorchScript module."""

import json
import logging
from pathlib import Path
from typing import List, Union

import torch
from torch import Tensor, nn
from transformers import BertConfig, BertForSequenceClassification

from torchserve_nlp.tokenizer.scriptable_tokenizer import ScriptableBertTokenizer
from torchserve_nlp.training.sentiment_training import TOKENIZER_SETTINGS

logger = logging.getLogger(__name__)


class LogitsOnly(nn.Module):
    """Tracing wrapper: transformers 5 models return output objects, tracing needs tensors."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


class TextClassifier(nn.Module):
    """``List[str]`` (or one ``str``) → logits, tokenizer included."""

    def __init__(self, tokenizer: nn.Module, encoder: nn.Module) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.encoder = encoder

    def forward(self, texts: Union[str, List[str]]) -> Tensor:
        input_ids, attention_mask = self.tokenizer(texts)
        return self.encoder(input_ids, attention_mask)


def load_eager_classifier(weights_file: Path) -> BertForSequenceClassification:
    """The classifier of ``weights_file`` (a state dict) with the config saved beside it."""
    config = BertConfig.from_pretrained(weights_file.parent, attn_implementation="eager")
    model = BertForSequenceClassification(config)
    state = torch.load(weights_file, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def build_scripted_classifier(weights_file: Path) -> torch.jit.ScriptModule:
    settings = json.loads((weights_file.parent / TOKENIZER_SETTINGS).read_text())
    tokenizer = ScriptableBertTokenizer.from_vocab_file(
        weights_file.parent / settings["vocab_file"],
        lowercase=settings["lowercase"], max_length=settings["max_length"], show_progress=True,
    )
    example_ids, example_mask = tokenizer(["an example to trace", "and a second, longer one"])
    with torch.inference_mode(False), torch.no_grad():
        encoder = torch.jit.trace(
            LogitsOnly(load_eager_classifier(weights_file)), (example_ids, example_mask),
            check_trace=False,
        )
    return torch.jit.script(TextClassifier(torch.jit.script(tokenizer), encoder))
