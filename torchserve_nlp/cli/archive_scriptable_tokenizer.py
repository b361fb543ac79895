"""Package the scripted tokenizer+classifier as ``<export-path>/scriptable_tokenizer.mar``.

    python scripts/archive_scriptable_tokenizer.py build/sentiment --export-path model_store

Installed from the wheel, the command is ``torchserve-nlp-archive-scriptable-tokenizer``
(same arguments).

Equivalent to (in a checkout, where handlers/ and artifacts/ sit at the root):
    torch-model-archiver --model-name scriptable_tokenizer --version 1.0 \
        --serialized-file build/sentiment/model_jit.pt \
        --handler handlers/scripted_text_classifier_handler.py \
        --extra-files handlers,artifacts/scriptable_tokenizer/index_to_name.json,\
build/sentiment/metrics.json \
        --config-file artifacts/scriptable_tokenizer/model-config.yaml --export-path model_store
"""

from pathlib import Path

from torchserve_nlp.archive.archiver import archive_cli, archive_model
from torchserve_nlp.file_names import INDEX_TO_NAME, METRICS_FILE, MODEL_CONFIG_YAML
from torchserve_nlp.resources import artifacts_dir

ARTIFACTS = artifacts_dir() / "scriptable_tokenizer"


def archive(build_dir: Path, export_path: Path, name: str = "scriptable_tokenizer") -> Path:
    return archive_model(
        name,
        serialized_file=build_dir / "model_jit.pt",
        handler="scripted_text_classifier_handler.py",
        export_path=export_path,
        extra_files=[
            ARTIFACTS / INDEX_TO_NAME,
            build_dir / METRICS_FILE,
        ],
        config_file=ARTIFACTS / MODEL_CONFIG_YAML,
    )


def main() -> None:
    archive_cli(
        "Package the TorchScript tokenizer+classifier (scripts/script_tokenizer_and_model.py's "
        "model_jit.pt) with its label map and metrics as <export-path>/scriptable_tokenizer.mar.",
        "directory with model_jit.pt, metrics.json", archive,
    )


if __name__ == "__main__":
    main()
