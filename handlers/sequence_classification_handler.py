"""TorchServe entry point (``--handler``) for sequence classification.

The code is in ``nlp_runtime.tasks.sequence_classification``;
the archive carries the whole ``handlers`` folder.
"""

from nlp_runtime.tasks.sequence_classification import SequenceClassification


class SequenceClassificationHandler(SequenceClassification):
    """The one class TorchServe's loader looks for in this file."""
