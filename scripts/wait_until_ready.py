"""Wait until every registered TorchServe model has all its workers READY.

    python scripts/wait_until_ready.py --management http://127.0.0.1:8081 [--timeout 300]
"""

import argparse
import sys
import time

import requests


def not_ready(management: str) -> list[str]:
    models = requests.get(f"{management}/models", timeout=10).json()["models"]
    waiting = []
    for model in models:
        detail = requests.get(f"{management}/models/{model['modelName']}", timeout=10).json()[0]
        workers = detail.get("workers", [])
        if not workers or any(w.get("status") != "READY" for w in workers):
            waiting.append(model["modelName"])
    return waiting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--management", default="http://127.0.0.1:8081")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    waiting: list[str] = ["(server not answering yet)"]
    while time.monotonic() < deadline:
        try:
            waiting = not_ready(args.management)
        except (requests.RequestException, ValueError, KeyError, IndexError):
            waiting = ["(server not answering yet)"]
        if not waiting:
            print(f"all models ready; list them with: curl {args.management}/models")
            return
        time.sleep(1)
    sys.exit(f"not ready after {args.timeout:.0f}s: {waiting}; see logs/model_log.log")


if __name__ == "__main__":
    main()
