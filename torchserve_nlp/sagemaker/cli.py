"""The ``serve`` command: environment → settings → archive and config → TorchServe.

The only place that turns errors into exit statuses, so that a bad configuration ends with
one logged line naming its variable and no traceback: 2 for configuration (an unknown or
untrained model, a missing S3 object), 1 when building fails or TorchServe ends on its own,
0 after SIGTERM or SIGINT.
"""

import argparse
import logging
import os
import subprocess
from collections.abc import Mapping, Sequence

from torchserve_nlp.archive.model_source import ModelSourceError
from torchserve_nlp.sagemaker.archive import prepare
from torchserve_nlp.sagemaker.settings import ServeConfigError, parse_env
from torchserve_nlp.sagemaker.supervisor import launch, prerequisites, run_torchserve

logger = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Serve one text classifier with TorchServe, configured by environment "
        "variables (see docs/sagemaker.md).",
    )
    # SageMaker starts containers as `docker run IMAGE serve`.
    parser.add_argument("command", nargs="?", choices=["serve"], default="serve")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parse_args(argv)
    env = dict(os.environ if env is None else env)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = parse_env(env)
        torchserve_bin = prerequisites(env)
        prepared = prepare(settings)
    except (ServeConfigError, ModelSourceError) as error:
        logger.error("%s", error)
        return 2
    except (OSError, subprocess.CalledProcessError) as error:
        logger.error("preparing the model failed: %s", error)
        return 1
    return run_torchserve(launch(prepared, torchserve_bin), env)
