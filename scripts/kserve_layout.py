"""Write KServe's storage layout (config/config.properties + model-store/*.mar).

    python scripts/kserve_layout.py build/kserve model_store/BERTSeqClassification.mar

A thin wrapper around ``torchserve_nlp.deploy.cli``; see docs/kserve.md.
"""

from torchserve_nlp.deploy import cli as command


def main() -> None:
    command.main()


if __name__ == "__main__":
    main()
