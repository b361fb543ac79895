"""Package the fine-tuned NER model as ``<export-path>/BERTTokenClassification.mar``.

    python scripts/archive_token_classifier.py build/token_classification --export-path model_store

Installed from the wheel, the command is ``torchserve-nlp-archive-token-classifier``
(same arguments).

The archive holds model.safetensors (serialized file), config.json, the tokenizer files,
setup_config.json, metrics.json and the handler with its support modules, all flat.
``--torchscript`` also writes ``BERTTokenClassification_Torchscript.mar``: the model traced to
``(input_ids, attention_mask, token_type_ids)`` → logits (traced_model.pt) with the same files,
its setup_config.json saying ``"save_mode": "torchscript"``.

``--save-mode onnx|onnx_int8|bf16`` (repeatable) also writes ``<name>_<mode>.mar`` in that CPU
runtime, after scoring it and the pretrained archive on the model's held-out set: the build
stops if it loses more than its save mode may, unless ``--accept-metric-loss``
(docs/cpu_runtimes.md).
"""

from functools import partial

from torchserve_nlp.archive import derived_archives, transformer_archives
from torchserve_nlp.archive.transformer_archives import TRACED_FILE  # noqa: F401 - where the trace goes

TASK = transformer_archives.TASKS["token_classification"]
NAME, TORCHSCRIPT_NAME = TASK.archive_name, TASK.torchscript_name
archive = partial(transformer_archives.archive, TASK)
archive_torchscript = partial(transformer_archives.archive_torchscript, TASK)
archive_derived = partial(derived_archives.archive_derived, TASK)


DESCRIPTION = (
    "Package the NER (token classification) model that scripts/train_token_classifier.py wrote "
    "to build_dir as the TorchServe archive BERTTokenClassification.mar in --export-path "
    "(default: model_store/). --torchscript also writes "
    "BERTTokenClassification_Torchscript.mar, the model traced."
)


def main() -> None:
    transformer_archives.archive_main(
        TASK, DESCRIPTION, "output directory of scripts/train_token_classifier.py"
    )


if __name__ == "__main__":
    main()
