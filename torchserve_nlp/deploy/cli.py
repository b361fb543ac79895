"""Write KServe's storage layout for TorchServe from chosen archives.

    python scripts/kserve_layout.py build/kserve model_store/BERTSeqClassification.mar \
        model_store/BERTQuestionAnswering.mar:workers=2,batch_size=4 [--workers 1] ...

Each ARCHIVE may end with ``:setting=value,...`` (settings: workers, min_workers,
max_workers, batch_size, max_batch_delay, response_timeout); the options set a value for
every archive; the archive's own model-config.yaml gives the rest. Upload OUT whole to the
InferenceService's storageUri (docs/kserve.md). Exit status 2 on a bad archive or setting.
"""

import argparse
import logging
import sys
from pathlib import Path, PurePosixPath

from torchserve_nlp.deploy import container
from torchserve_nlp.deploy.layout import (
    LayoutError,
    ModelEntry,
    ServerSettings,
    Setting,
    apply_overrides,
    parse_overrides,
    read_archive,
    write_layout,
)

logger = logging.getLogger(__name__)

GLOBAL_OPTIONS = {
    Setting.WORKERS: "--workers",
    Setting.BATCH_SIZE: "--batch-size",
    Setting.MAX_BATCH_DELAY: "--max-batch-delay",
    Setting.RESPONSE_TIMEOUT: "--response-timeout",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[1:]),
    )
    parser.add_argument("out", type=Path, help="the layout's folder (new or empty)")
    parser.add_argument("archives", nargs="+", metavar="ARCHIVE[:SETTINGS]",
                        help=".mar files, each optionally with :setting=value,...")
    for setting, option in GLOBAL_OPTIONS.items():
        parser.add_argument(option, type=int, dest=setting.value,
                            help=f"{setting.value} for every archive")
    parser.add_argument("--mount", type=PurePosixPath, default=container.MOUNT,
                        help="where the container sees the layout (default: %(default)s)")
    parser.add_argument("--metrics-config", type=Path,
                        help="a TorchServe metrics YAML, copied to config/metrics.yaml")
    parser.add_argument("--job-queue-size", type=int, default=ServerSettings.job_queue_size,
                        help="requests queued per model before a 503 (default: %(default)s)")
    return parser.parse_args(argv)


def split_archive(arg: str) -> tuple[Path, str]:
    """``path[:settings]``: the part after the last colon is settings if it holds an ``=``."""
    path, sep, spec = arg.rpartition(":")
    return (Path(path), spec) if sep and "=" in spec else (Path(arg), "")


def entries(args: argparse.Namespace) -> list[ModelEntry]:
    common = {s: getattr(args, s.value) for s in GLOBAL_OPTIONS
              if getattr(args, s.value) is not None}
    models = []
    for arg in args.archives:
        path, spec = split_archive(arg)
        models.append(apply_overrides(read_archive(path), {**common, **parse_overrides(spec)}))
    return models


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    settings = ServerSettings(mount=args.mount, job_queue_size=args.job_queue_size)
    try:
        layout = write_layout(args.out, entries(args), settings, args.metrics_config)
    except (LayoutError, OSError) as error:
        logger.error("%s", error)
        sys.exit(2)
    logger.info("layout ready in %s (%d models): upload it whole as the storageUri",
                layout.root, len(layout.models))
