"""Build-time tooling: scriptable tokenizers, training, archiving and packaging for TorchServe.

``package_model`` is loaded on first use, so importing a light module of this package (the
TorchServe process helpers, the SageMaker settings) does not import torch.
"""

from typing import Any

__all__ = ["package_model"]


def __getattr__(name: str) -> Any:
    if name == "package_model":
        from torchserve_nlp.archive.packaging import package_model

        return package_model
    raise AttributeError(f"module 'torchserve_nlp' has no attribute {name!r}")
