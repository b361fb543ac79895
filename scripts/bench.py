"""Benchmark a served model over HTTP, then the same archive in-process, and compare.

    python scripts/bench.py --model scriptable_tokenizer \
        --archive model_store/scriptable_tokenizer.mar \
        --texts artifacts/scriptable_tokenizer/bench_texts.txt

A thin wrapper around ``torchserve_nlp.cli.bench``,
installed from the wheel as ``torchserve-nlp-bench``.
"""

from torchserve_nlp.cli import bench as command
from torchserve_nlp.cli.bench import (
    JSON_CONTENT_TYPE,
    BenchConfig,
    batches,
    bench_in_process,
    bench_server,
    parse_args,
    report,
)

__all__ = [
    "JSON_CONTENT_TYPE",
    "BenchConfig",
    "batches",
    "bench_in_process",
    "bench_server",
    "parse_args",
    "report",
    "main",
]


def main(argv: list[str] | None = None) -> None:
    command.main(argv)


if __name__ == "__main__":
    main()
