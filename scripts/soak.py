"""A bounded soak of one archive on its own TorchServe (``make soak``).

    python scripts/soak.py --archive model_store/scriptable_tokenizer.mar \
        --texts artifacts/scriptable_tokenizer/bench_texts.txt --seconds 120 --concurrency 32

The command line of ``torchserve_nlp.bench.soak``; prints the report, exit status 1 when a
request failed or a worker was restarted.
"""

import argparse
import json
import logging
import sys
from pathlib import Path

from torchserve_nlp.bench.http_load import TEXT_CONTENT_TYPE
from torchserve_nlp.bench.soak import Memory, SoakConfig, SoakResult, run_soak

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config.properties"
JSON_CONTENT_TYPE = "application/json"
DESCRIPTION = """\
Soak one model archive: start a private TorchServe that serves only it (free
loopback ports; --config's settings otherwise, token authorization off), POST
the lines of --texts to /predictions/<model> from --concurrency clients for
--seconds, then stop the server. Prints the requests answered, errors by HTTP
status, p50/p99 latency, and the resident memory (RSS, from /proc) of the model's
worker and of the frontend at the start and the end of the load. Exit status 1
if any measured request failed or a worker was restarted."""
EPILOG = """\
example:
  python scripts/soak.py --archive model_store/scriptable_tokenizer.mar \\
      --texts artifacts/scriptable_tokenizer/bench_texts.txt --seconds 120 --concurrency 32"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--archive", type=Path, required=True, help="the .mar to serve")
    parser.add_argument(
        "--texts", type=Path, required=True, help="one request body per line, cycled"
    )
    parser.add_argument(
        "--model", help="the name to serve it as (default: the archive's file name without .mar)"
    )
    parser.add_argument(
        "--seconds", type=float, default=120,
        help="length of the measured load (default: %(default)s)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="clients sending at once (default: %(default)s)"
    )
    parser.add_argument(
        "--warmup", type=int, help="unmeasured requests before the load (default: 2 per client)"
    )
    parser.add_argument("--timeout", type=float, default=60, help="per request, seconds")
    parser.add_argument(
        "--config", type=Path, default=REPO_CONFIG,
        help="config.properties to start from (default: the repository's)",
    )
    parser.add_argument(
        "--work-dir", type=Path,
        help="keep the server's config and logs here (default: a temporary folder, removed)",
    )
    parser.add_argument(
        "--json-lines", action="store_true", help="each line of --texts is a JSON request body"
    )
    parser.add_argument("--json-out", type=Path, help="also write every figure as JSON")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1 or args.timeout <= 0:
        parser.error("--seconds and --timeout must be > 0, --concurrency at least 1")
    if args.warmup is not None and args.warmup < 0:
        parser.error("--warmup must be >= 0")
    for name in ("archive", "texts", "config"):
        if not getattr(args, name).is_file():
            parser.error(f"--{name}: no such file: {getattr(args, name)}")
    return args


def read_texts(path: Path) -> list[str]:
    texts = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise SystemExit(f"{path} holds no non-empty line; put one request body per line")
    return texts


def report(result: SoakResult) -> str:
    latency = result.latency_ms
    warmup_errors = f" ({counts(result.warmup_errors)} failed)" if result.warmup_errors else ""
    return "\n".join([
        f"soak {result.model}: {result.seconds:g} s at concurrency {result.concurrency}, "
        f"{result.texts} texts cycled, {result.warmup} warm-up requests excluded{warmup_errors}",
        f"requests: {result.requests} in {result.elapsed_s:.1f} s "
        f"({result.requests_per_s:.1f}/s), ok {result.ok}",
        f"errors: {counts(result.errors) or 'none'}",
        "latency ms: " + (
            f"p50 {latency.p50_ms:.1f}  p99 {latency.p99_ms:.1f}  "
            f"(mean {latency.mean_ms:.1f}, max {latency.max_ms:.1f})" if latency else "none"),
        memory_line("worker", result.worker, result.samples[-1].worker_pids),
        memory_line("frontend", result.frontend, (result.frontend_pid,)),
        f"worker restarts: {result.worker_restarts}",
    ])


def counts(by_outcome: dict[str, int]) -> str:
    return ", ".join(f"{n} x {outcome}" for outcome, n in by_outcome.items())


def memory_line(name: str, memory: Memory, pids: tuple[int, ...]) -> str:
    return (
        f"{name} RSS MiB: start {memory.start_mib:.1f}  end {memory.end_mib:.1f}  "
        f"peak {memory.peak_mib:.1f}  ({memory.growth_mib:+.1f}; "
        f"pid {', '.join(map(str, pids))})"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = SoakConfig(
        archive=args.archive, texts=read_texts(args.texts), seconds=args.seconds,
        concurrency=args.concurrency, model=args.model, base_config=args.config,
        work_dir=args.work_dir, timeout_s=args.timeout, warmup=args.warmup,
        content_type=JSON_CONTENT_TYPE if args.json_lines else TEXT_CONTENT_TYPE,
    )
    result = run_soak(config)
    print(report(result))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    if result.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
