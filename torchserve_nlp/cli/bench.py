"""Benchmark a served model over HTTP, then the same archive in-process, and compare.

    python scripts/bench.py --model scriptable_tokenizer \
        --archive model_store/scriptable_tokenizer.mar \
        --texts artifacts/scriptable_tokenizer/bench_texts.txt --concurrency 8 --requests 400

Installed from the wheel, the command is ``torchserve-nlp-bench``
(same arguments).

The HTTP phase POSTs text bodies to <url>/predictions/<model> at a fixed concurrency. The
in-process phase runs the same texts through the same archive with
torchserve_nlp.serving.local_archive, in batches of the archive's batchSize (the batch size
TorchServe serves it with), so the ratio of the two throughputs is what serving costs over the
handler.
With --json-lines every line is a JSON body (e.g. a question and its context), sent as
application/json. Warm-up requests are excluded from every figure. Both phases stop after
--max-seconds.
Exit status 1 when any measured request failed (the report still prints).

With --compare NAME=ARCHIVE ... it benchmarks several archives side by side on one server
instead (``torchserve_nlp.bench.compare_command``; ``bench.py --compare --help``).
"""

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchserve_nlp.bench import compare_command
from torchserve_nlp.bench.bench_stats import ratio, summarize_latencies
from torchserve_nlp.bench.http_load import TEXT_CONTENT_TYPE
from torchserve_nlp.bench.phases import (
    JSON_CONTENT_TYPE,
    batches,
    cycled,
    read_texts,
    run_http,
    run_in_process,
)

__all__ = [
    "JSON_CONTENT_TYPE", "BenchConfig", "batches", "bench_in_process", "bench_server", "cycled",
    "main", "parse_args", "read_texts", "report",
]


@dataclass(frozen=True)
class BenchConfig:
    model: str
    archive: Path | None
    texts: Path
    url: str
    concurrency: int
    requests: int
    warmup: int
    max_seconds: float
    timeout_s: float
    batch_size: int | None
    run_server: bool
    run_in_process: bool
    json_out: Path | None
    json_lines: bool = False

    @property
    def content_type(self) -> str:
        return JSON_CONTENT_TYPE if self.json_lines else TEXT_CONTENT_TYPE

    @property
    def predictions_url(self) -> str:
        return f"{self.url.rstrip('/')}/predictions/{self.model}"


DESCRIPTION = """\
Benchmark a model served by TorchServe: POST the lines of --texts to
<url>/predictions/<model> at a fixed concurrency, then run the same texts
through the same .mar in-process (no server), and print latency and throughput
of both and their ratio (what serving costs over the handler). Exit status 1 if
any measured request failed."""
EPILOG = """\
several archives side by side, on a TorchServe of their own: bench.py --compare --help

example:
  python scripts/bench.py --model scriptable_tokenizer \\
      --archive model_store/scriptable_tokenizer.mar \\
      --texts artifacts/scriptable_tokenizer/bench_texts.txt --json-out bench.json"""


def parse_args(argv: list[str] | None = None) -> BenchConfig:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="model name served by TorchServe")
    parser.add_argument("--archive", type=Path, help=".mar for the in-process phase")
    parser.add_argument("--texts", type=Path, required=True, help="one text per line, cycled")
    parser.add_argument(
        "--url", default="http://127.0.0.1:8080", help="inference address (default: %(default)s)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8,
        help="HTTP requests in flight at once (default: %(default)s)",
    )
    parser.add_argument("--requests", type=int, default=400, help="measured requests")
    parser.add_argument("--warmup", type=int, default=16, help="unmeasured requests first")
    parser.add_argument("--max-seconds", type=float, default=300, help="time limit per phase")
    parser.add_argument("--timeout", type=float, default=60, help="per HTTP request, seconds")
    parser.add_argument(
        "--batch-size", type=int,
        help="in-process batch size (default: the archive's model-config.yaml batchSize, else 1)",
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--server-only", action="store_true", help="skip the in-process phase")
    only.add_argument("--inprocess-only", action="store_true", help="skip the HTTP phase")
    parser.add_argument("--json-out", type=Path, help="also write every figure as JSON")
    parser.add_argument(
        "--json-lines", action="store_true", help="each line of --texts is a JSON request body"
    )
    args = parser.parse_args(argv)
    for name in ("concurrency", "requests"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.warmup < 0 or args.max_seconds <= 0 or args.timeout <= 0:
        parser.error("--warmup must be >= 0; --max-seconds and --timeout must be > 0")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    if not args.server_only and args.archive is None:
        parser.error("--archive is needed for the in-process phase (or pass --server-only)")
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"--url must start with http:// or https://, got {args.url!r}")
    return BenchConfig(
        model=args.model, archive=args.archive, texts=args.texts, url=args.url,
        concurrency=args.concurrency, requests=args.requests, warmup=args.warmup,
        max_seconds=args.max_seconds, timeout_s=args.timeout, batch_size=args.batch_size,
        run_server=not args.inprocess_only, run_in_process=not args.server_only,
        json_out=args.json_out, json_lines=args.json_lines,
    )


def bench_server(config: BenchConfig, warmup: list[str], measured: list[str]) -> dict[str, Any]:
    run = run_http(
        config.predictions_url, warmup, measured, config.concurrency, config.max_seconds,
        config.timeout_s, config.content_type,
    )
    return {
        "url": config.predictions_url,
        "concurrency": config.concurrency,
        "requests": run.count,
        "ok": run.ok,
        "errors": run.errors,
        "stopped_by_time_limit": run.stopped_by_time_limit,
        "elapsed_s": run.elapsed_s,
        "requests_per_s": run.per_second,
        "latency_ms": summarize_latencies(run.latencies_s).as_dict(),
    }


def bench_in_process(
    config: BenchConfig, warmup: list[str], measured: list[str]
) -> dict[str, Any]:
    run = run_in_process(
        config.archive, warmup, measured, config.batch_size, config.max_seconds,
        config.content_type,
    )
    return {
        "archive": str(config.archive),
        "batch_size": run.batch_size,
        "texts": run.count,
        "batches": len(run.latencies_s),
        "ok": run.ok,
        "errors": run.errors,
        "stopped_by_time_limit": run.stopped_by_time_limit,
        "elapsed_s": run.elapsed_s,
        "texts_per_s": run.per_second,
        "batch_latency_ms": summarize_latencies(run.latencies_s).as_dict(),
    }


def report(figures: dict[str, Any]) -> str:
    lines = [f"model {figures['model']}: {figures['warmup']} warm-up requests excluded"]
    server, local = figures.get("server"), figures.get("in_process")
    if server:
        lines += [
            f"HTTP {server['url']} at concurrency {server['concurrency']}",
            f"  {server['requests']} requests in {server['elapsed_s']:.2f} s: "
            f"{server['requests_per_s']:.1f} requests/s",
            "  latency " + _latency_line(server["latency_ms"]),
            "  errors: " + _errors_line(server),
        ]
    if local:
        lines += [
            f"in-process {local['archive']} at batch size {local['batch_size']}",
            f"  {local['texts']} texts in {local['batches']} batches, {local['elapsed_s']:.2f} s: "
            f"{local['texts_per_s']:.1f} texts/s",
            "  batch latency " + _latency_line(local["batch_latency_ms"]),
            "  errors: " + _errors_line(local),
        ]
    if figures.get("server_over_in_process") is not None:
        lines.append(
            f"server / in-process throughput: {figures['server_over_in_process']:.3f}"
        )
    return "\n".join(lines)


def _latency_line(latency: dict[str, float]) -> str:
    return (
        f"ms: p50 {latency['p50_ms']:.1f}  p95 {latency['p95_ms']:.1f}  "
        f"p99 {latency['p99_ms']:.1f}  (mean {latency['mean_ms']:.1f}, max {latency['max_ms']:.1f})"
    )


def _errors_line(phase: dict[str, Any]) -> str:
    errors = ", ".join(f"{count} x {outcome}" for outcome, count in phase["errors"].items())
    stopped = "; stopped by the time limit" if phase["stopped_by_time_limit"] else ""
    return (errors or "none") + stopped


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    if compare_command.COMPARE_FLAG in arguments:
        compare_command.main(arguments)
        return
    config = parse_args(arguments)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    texts = read_texts(config.texts)
    warmup = cycled(texts, config.warmup)
    measured = cycled(texts, config.requests, start=config.warmup)
    figures: dict[str, Any] = {"model": config.model, "warmup": config.warmup}
    if config.run_server:
        figures["server"] = bench_server(config, warmup, measured)
    if config.run_in_process:
        figures["in_process"] = bench_in_process(config, warmup, measured)
    if config.run_server and config.run_in_process:
        figures["server_over_in_process"] = ratio(
            figures["server"]["requests_per_s"], figures["in_process"]["texts_per_s"]
        )
    print(report(figures))
    if config.json_out is not None:
        config.json_out.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    if any(figures.get(phase, {}).get("errors") for phase in ("server", "in_process")):
        sys.exit(1)


if __name__ == "__main__":
    main()
