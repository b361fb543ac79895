"""Package the fine-tuned QA model as ``<export-path>/BERTQuestionAnswering.mar``.

    python scripts/archive_question_answering.py build/question_answering --export-path model_store

Installed from the wheel, the command is ``torchserve-nlp-archive-question-answering``
(same arguments).

The archive holds model.safetensors (serialized file), config.json, the tokenizer files,
setup_config.json, metrics.json and the handler with its support modules, all flat.
``--torchscript`` also writes ``BERTQuestionAnswering_Torchscript.mar``: the model traced to
``(input_ids, attention_mask, token_type_ids)`` → (start_logits, end_logits).
"""

from functools import partial

from torchserve_nlp.archive import transformer_archives

TASK = transformer_archives.TASKS["question_answering"]
NAME, TORCHSCRIPT_NAME = TASK.archive_name, TASK.torchscript_name
archive = partial(transformer_archives.archive, TASK)
archive_torchscript = partial(transformer_archives.archive_torchscript, TASK)


DESCRIPTION = (
    "Package the question-answering model that scripts/train_question_answering.py wrote to "
    "build_dir as the TorchServe archive BERTQuestionAnswering.mar in --export-path "
    "(default: model_store/). --torchscript also writes BERTQuestionAnswering_Torchscript.mar, "
    "the model traced."
)


def main() -> None:
    transformer_archives.archive_main(
        TASK, DESCRIPTION, "output directory of scripts/train_question_answering.py"
    )


if __name__ == "__main__":
    main()
