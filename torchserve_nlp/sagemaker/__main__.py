"""``python -m torchserve_nlp.sagemaker [serve]``: the same command as ``scripts/serve``."""

from torchserve_nlp.sagemaker.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
