"""TorchServe entry point (``--handler``) for extractive question answering.

The code is in ``nlp_runtime.tasks.question_answering``;
the archive carries the whole ``handlers`` folder.
"""

from nlp_runtime.tasks.question_answering import QuestionAnswering


class QuestionAnsweringHandler(QuestionAnswering):
    """The one class TorchServe's loader looks for in this file."""
