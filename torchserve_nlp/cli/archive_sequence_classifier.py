"""Package the fine-tuned sentiment model as ``<export-path>/BERTSeqClassification.mar``.

    python scripts/archive_sequence_classifier.py build/sentiment --export-path model_store
    python scripts/archive_sequence_classifier.py build/sentiment --torchscript

Installed from the wheel, the command is ``torchserve-nlp-archive-sequence-classifier``
(same arguments).

Both archive ``<build_dir>/pretrained`` (save_pretrained output of train_sentiment.py).
``--torchscript`` also writes ``BERTSeqClassification_Torchscript.mar``: the model traced to
``(input_ids, attention_mask, token_type_ids)`` → logits (traced_model.pt) with the tokenizer
files and config.json.

``--save-mode onnx|onnx_int8|bf16`` (repeatable) also writes ``<name>_<mode>.mar`` in that CPU
runtime, after scoring it and the pretrained archive on the model's held-out set: the build
stops if it loses more than its save mode may, unless ``--accept-metric-loss``
(docs/cpu_runtimes.md).
"""

from pathlib import Path

from torchserve_nlp.archive import derived_archives, transformer_archives

TASK = transformer_archives.TASKS["sequence_classification"]
NAME, TORCHSCRIPT_NAME = TASK.archive_name, TASK.torchscript_name
PRETRAINED = "pretrained"  # where train_sentiment.py puts its save_pretrained output


def archive(build_dir: Path, export_path: Path, **options) -> Path:
    return transformer_archives.archive(TASK, Path(build_dir) / PRETRAINED, export_path, **options)


def archive_torchscript(build_dir: Path, export_path: Path, **options) -> Path:
    pretrained = Path(build_dir) / PRETRAINED
    return transformer_archives.archive_torchscript(TASK, pretrained, export_path, **options)


def archive_derived(build_dir: Path, export_path: Path, save_mode: str, **options) -> Path:
    pretrained = Path(build_dir) / PRETRAINED
    return derived_archives.archive_derived(TASK, pretrained, export_path, save_mode, **options)


DESCRIPTION = (
    "Package the sentiment model that scripts/train_sentiment.py wrote to build_dir/pretrained "
    "as the TorchServe archive BERTSeqClassification.mar in --export-path "
    "(default: model_store/). --torchscript also writes BERTSeqClassification_Torchscript.mar, "
    "the model traced."
)


def main() -> None:
    transformer_archives.archive_main(
        TASK, DESCRIPTION, "output directory of scripts/train_sentiment.py", subdir=PRETRAINED
    )


if __name__ == "__main__":
    main()
