"""Write the Transformer a setup_config.json describes into a directory ready to archive.

    python scripts/download_transformer_models.py \
        artifacts/sequence_classification/setup_config.json [--out DIR] [--seed N]

A thin wrapper around ``torchserve_nlp.cli.download_transformer_models``,
installed from the wheel as ``torchserve-nlp-download-transformer-models``.
"""

from torchserve_nlp.cli import download_transformer_models as command


def main(argv: list[str] | None = None) -> int:
    return command.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
