"""TorchServe entry point (``--handler``) for a TorchScript tokenizer + classifier.

The code is in ``nlp_runtime.tasks.scripted_classifier``;
the archive carries the whole ``handlers`` folder.
"""

from nlp_runtime.tasks.scripted_classifier import ScriptedTextClassifier


class ScriptedTextClassifierHandler(ScriptedTextClassifier):
    """The one class TorchServe's loader looks for in this file."""
