"""A tiny TorchScript text classifier archived with the real handler, for fast tests."""

import json
from pathlib import Path

import torch
from torch import nn

from torchserve_nlp.archive.archiver import archive_model

NAME = "tiny_classifier"
LABELS = {"0": "Negative", "1": "Positive"}
MODEL_CONFIG = "batchSize: 4\nmaxBatchDelay: 50\nminWorkers: 1\nmaxWorkers: 1\n"


class LengthClassifier(nn.Module):
    """Logits from character and word counts through a fixed linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 2)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[0.05, -0.3], [-0.04, 0.35]]))
            self.linear.bias.copy_(torch.tensor([0.2, -0.1]))

    def forward(self, texts: list[str]) -> torch.Tensor:
        features = [[float(len(text)), float(len(text.split()))] for text in texts]
        return self.linear(torch.tensor(features))


def build_tiny_archive(work_dir: Path, labels: dict[str, str] = LABELS) -> Path:
    """Write the scripted model and its files under ``work_dir``; return the .mar path."""
    work_dir.mkdir(parents=True, exist_ok=True)
    model_path = work_dir / "model_jit.pt"
    torch.jit.save(torch.jit.script(LengthClassifier().eval()), str(model_path))
    index_to_name = work_dir / "index_to_name.json"
    index_to_name.write_text(json.dumps(labels))
    config = work_dir / "model-config.yaml"
    config.write_text(MODEL_CONFIG)
    return archive_model(
        NAME,
        serialized_file=model_path,
        handler="scripted_text_classifier_handler.py",
        export_path=work_dir / "model_store",
        extra_files=[index_to_name],
        config_file=config,
    )
