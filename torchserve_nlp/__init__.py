"""Build-time tooling: scriptable tokenizers, training, archiving and packaging for TorchServe."""
