"""Package a model class with predict_single and its safetensors weights as a .mar archive.

    python scripts/package_model.py --name news_classifier --model-file model.py \
        --weights weights.safetensors --init-args-file init_args.json

A thin wrapper around ``torchserve_nlp.cli.package_model``,
installed from the wheel as ``torchserve-nlp-package-model``.
"""

from torchserve_nlp.cli import package_model as command


def main() -> None:
    command.main()


if __name__ == "__main__":
    main()
