"""Package the fine-tuned QA model as ``<export-path>/BERTQuestionAnswering.mar``.

    python scripts/archive_question_answering.py build/question_answering --export-path model_store

Installed from the wheel, the command is ``torchserve-nlp-archive-question-answering``
(same arguments).

The archive holds model.safetensors (serialized file), config.json, the tokenizer files,
setup_config.json, metrics.json and the handler with its support modules, all flat.
``--torchscript`` also writes ``BERTQuestionAnswering_Torchscript.mar``: the model traced to
``(input_ids, attention_mask, token_type_ids)`` → (start_logits, end_logits).

``--save-mode onnx|onnx_int8|bf16`` (repeatable) also writes ``<name>_<mode>.mar`` in that CPU
runtime, after scoring it and the pretrained archive on the model's held-out set: the build
stops if it loses more than its save mode may, unless ``--accept-metric-loss``
(docs/cpu_runtimes.md).
"""

from functools import partial

from torchserve_nlp.archive import derived_archives, transformer_archives

TASK = transformer_archives.TASKS["question_answering"]
NAME, TORCHSCRIPT_NAME = TASK.archive_name, TASK.torchscript_name
archive = partial(transformer_archives.archive, TASK)
archive_torchscript = partial(transformer_archives.archive_torchscript, TASK)
archive_derived = partial(derived_archives.archive_derived, TASK)


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
