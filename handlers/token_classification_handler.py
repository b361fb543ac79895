"""TorchServe entry point (``--handler``) for token classification (NER).

The code is in ``nlp_runtime.tasks.token_classification``;
the archive carries the whole ``handlers`` folder.
"""

from nlp_runtime.tasks.token_classification import TokenClassification


class TokenClassificationHandler(TokenClassification):
    """The one class TorchServe's loader looks for in this file."""
