"""Session-wide builds shared by unit and integration tests."""

from pathlib import Path

import pytest

from torchserve_nlp.serving.local_archive import ProcessSettings
from torchserve_nlp.training.sentiment_training import quick, train


@pytest.fixture(autouse=True)
def process_settings_put_back():
    """A handler loaded in a test may set process-wide settings for its worker (an ONNX
    archive takes PyTorch to one thread); later tests get the process as it was."""
    settings = ProcessSettings.now()
    yield
    settings.restore()


@pytest.fixture(scope="session")
def quick_sentiment_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quick-trained sentiment model, scripted together with its tokenizer."""
    from torchserve_nlp.tokenizer.scripted_classifier import build_scripted_classifier

    out = tmp_path_factory.mktemp("sentiment")
    train(quick(out))
    import torch

    torch.jit.save(build_scripted_classifier(out / "model.pt"), str(out / "model_jit.pt"))
    return out


@pytest.fixture(scope="session")
def quick_ner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quick-trained token classifier (save_pretrained output with metrics.json)."""
    from torchserve_nlp.training.token_classifier_training import quick as quick_ner
    from torchserve_nlp.training.token_classifier_training import train as train_ner

    out = tmp_path_factory.mktemp("ner")
    train_ner(quick_ner(out))
    return out
