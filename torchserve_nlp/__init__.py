"""Build-time tooling: scriptable tokenizers, training, archiving and packaging for TorchServe."""

from torchserve_nlp.packaging import package_model as package_model
