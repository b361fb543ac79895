"""Wait until every registered TorchServe model has all its workers READY.

    python scripts/wait_until_ready.py --management http://127.0.0.1:8081 [--timeout 300]

Installed from the wheel, the command is ``torchserve-nlp-wait-until-ready``
(same arguments).
"""

import argparse
import sys

from torchserve_nlp.serving.torchserve import NotReady, wait_until_ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--management", default="http://127.0.0.1:8081",
        help="TorchServe's management API address (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout", type=float, default=300,
        help="seconds to wait before giving up with a non-zero exit (default: %(default)s)",
    )
    args = parser.parse_args()
    try:
        wait_until_ready(args.management, args.timeout, interval=1.0)
    except NotReady as error:
        sys.exit(f"{error}; see logs/model_log.log")
    print(f"all models ready; list them with: curl {args.management}/models")


if __name__ == "__main__":
    main()
