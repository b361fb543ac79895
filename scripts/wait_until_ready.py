"""Wait until every registered TorchServe model has all its workers READY.

    python scripts/wait_until_ready.py --management http://127.0.0.1:8081 [--timeout 300]

A thin wrapper around ``torchserve_nlp.cli.wait_until_ready``,
installed from the wheel as ``torchserve-nlp-wait-until-ready``.
"""

from torchserve_nlp.cli import wait_until_ready as command


def main() -> None:
    command.main()


if __name__ == "__main__":
    main()
