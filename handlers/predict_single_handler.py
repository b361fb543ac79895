"""TorchServe entry point (``--handler``) for any torch model with predict_single.

The code is in ``nlp_runtime.tasks.predict_single``;
the archive carries the whole ``handlers`` folder.
"""

from nlp_runtime.tasks.predict_single import PredictSingle


class PredictSingleHandler(PredictSingle):
    """The one class TorchServe's loader looks for in this file."""
