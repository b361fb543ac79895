"""Package the fine-tuned NER model as ``<export-path>/BERTTokenClassification.mar``.

    python scripts/archive_token_classifier.py build/token_classification --export-path model_store

The archive holds model.safetensors (serialized file), config.json, the tokenizer files,
setup_config.json, metrics.json and the handler with its support modules, all flat.
"""

from pathlib import Path

from torchserve_nlp.archiver import REPO_ROOT, archive_cli, archive_model

NAME = "BERTTokenClassification"
ARTIFACTS = REPO_ROOT / "artifacts" / "token_classification"
HANDLERS = REPO_ROOT / "handlers"
SUPPORT_MODULES = ("transformer_config.py", "token_aggregation.py", "entity_request.py")
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "metrics.json")
OPTIONAL_TOKENIZER_FILES = ("special_tokens_map.json", "vocab.txt")


def archive(build_dir: Path, export_path: Path, name: str = NAME) -> Path:
    build_dir = Path(build_dir)
    optional = [build_dir / f for f in OPTIONAL_TOKENIZER_FILES if (build_dir / f).exists()]
    return archive_model(
        name,
        serialized_file=build_dir / "model.safetensors",
        handler="token_classification_handler.py",
        export_path=export_path,
        extra_files=[
            *(HANDLERS / f for f in SUPPORT_MODULES),
            *(build_dir / f for f in MODEL_FILES),
            *optional,
            ARTIFACTS / "setup_config.json",
        ],
        config_file=ARTIFACTS / "model-config.yaml",
        requirements_file=ARTIFACTS / "requirements.txt",
    )


def main() -> None:
    archive_cli(__doc__.split("\n")[1], "output of scripts/train_token_classifier.py", archive)


if __name__ == "__main__":
    main()
