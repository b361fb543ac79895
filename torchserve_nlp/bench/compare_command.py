"""``scripts/bench.py --compare``: several archives side by side on one server.

    python scripts/bench.py --compare BERTSeqClassification=model_store/BERTSeqClassification.mar \
        BERTSeqClassification_onnx_int8=model_store/BERTSeqClassification_onnx_int8.mar \
        --max-length-baseline --texts artifacts/scriptable_tokenizer/bench_texts.txt \
        --concurrency 16 --rounds 3

Prints a Markdown table (one row per archive; ratios against the first); --json-out keeps
every round's figures. Exit status 1 when a measured request failed.
"""

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from torchserve_nlp.bench.compare import MAX_LENGTH, CompareConfig, Contender, run_compare
from torchserve_nlp.bench.compare_report import report_json, report_text
from torchserve_nlp.bench.compare_server import ServerUnusable
from torchserve_nlp.bench.compare_summary import RoundPhases, summarize
from torchserve_nlp.bench.http_load import TEXT_CONTENT_TYPE
from torchserve_nlp.bench.phases import JSON_CONTENT_TYPE, read_texts

logger = logging.getLogger(__name__)
COMPARE_FLAG = "--compare"

DESCRIPTION = """\
Benchmark several archives side by side: start one TorchServe serving all of
them (free loopback ports; or use --url), then in each of --rounds rounds, for
each archive in turn (order rotated every round), POST --requests bodies at
--concurrency and run the same bodies through the same .mar in-process. Prints
one Markdown row per archive: median req/s, p50/p99, server ÷ in-process, and
the ratio to the first archive (median of per-round ratios)."""
EPILOG = """\
example:
  python scripts/bench.py --compare BERTSeqClassification=model_store/BERTSeqClassification.mar \\
      BERTSeqClassification_bf16=model_store/BERTSeqClassification_bf16.mar \\
      --max-length-baseline --texts artifacts/scriptable_tokenizer/bench_texts.txt \\
      --concurrency 16 --rounds 3 --json-out build/bench_compare.json"""


def parse_archive(spec: str) -> Contender:
    """``NAME=path/to/archive.mar``, or a bare path (named after its file)."""
    name, separator, path = spec.partition("=")
    if not separator:
        name, path = Path(spec).name.removesuffix(".mar"), spec
    if not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=ARCHIVE.mar, got {spec!r}")
    return Contender(name, Path(path))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench.py --compare", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        COMPARE_FLAG, dest="archives", nargs="+", type=parse_archive, required=True,
        metavar="NAME=ARCHIVE", help="archives to compare, served as NAME; the first is the "
        "baseline of the ratios",
    )
    parser.add_argument("--texts", type=Path, required=True, help="one request body per line")
    parser.add_argument(
        "--json-lines", action="store_true", help="each line of --texts is a JSON request body"
    )
    parser.add_argument(
        "--max-length-baseline", action="store_true",
        help="add an in-process-only row: the first archive's tokenizer and forward with every "
        "text padded to max_length (text-input archives only)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="default: %(default)s")
    parser.add_argument("--concurrency", type=int, default=16, help="default: %(default)s")
    parser.add_argument(
        "--requests", type=int, default=400, help="measured per phase and round (default: "
        "%(default)s)",
    )
    parser.add_argument("--warmup", type=int, default=32, help="unmeasured, before each phase")
    parser.add_argument(
        "--server-warmup", type=int, default=800, help="unmeasured, before the first round, "
        "shared among the served archives (default: %(default)s)",
    )
    parser.add_argument("--max-seconds", type=float, default=300, help="time limit per phase")
    parser.add_argument("--timeout", type=float, default=60, help="per HTTP request, seconds")
    parser.add_argument("--batch-size", type=int, help="in-process (default: each archive's)")
    parser.add_argument(
        "--url", help="a running TorchServe's inference address that serves every NAME "
        "(default: start a private one)",
    )
    parser.add_argument(
        "--config", type=Path, help="config.properties lines for that server: they may change "
        "its defaults (vmargs, workers, ...), not its listeners or model store",
    )
    parser.add_argument("--work-dir", type=Path, help="keep that server's config and logs here")
    parser.add_argument("--json-out", type=Path, help="also write every figure as JSON")
    parser.add_argument("--markdown-out", type=Path, help="also write the table here")
    return parser


def parse_args(argv: list[str]) -> tuple[CompareConfig, argparse.Namespace]:
    parser = build_parser()
    if {"-h", "--help"} & set(argv):  # also for a bare --compare, which wants an archive
        parser.print_help()
        raise SystemExit(0)
    args = parser.parse_args(argv)
    if args.url is not None and not args.url.startswith(("http://", "https://")):
        parser.error(f"--url must start with http:// or https://, got {args.url!r}")
    contenders = list(args.archives)
    if args.max_length_baseline:
        first = contenders[0]
        contenders.append(Contender(f"{first.name}_{MAX_LENGTH}", first.archive, MAX_LENGTH))
    for path in [args.texts, *(c.archive for c in contenders)]:
        if not path.is_file():
            parser.error(f"no such file: {path}")
    try:
        return CompareConfig(
            contenders=tuple(contenders), texts=tuple(read_texts(args.texts)),
            rounds=args.rounds, concurrency=args.concurrency, requests=args.requests,
            warmup=args.warmup, server_warmup=args.server_warmup,
            max_seconds=args.max_seconds, timeout_s=args.timeout,
            batch_size=args.batch_size,
            content_type=JSON_CONTENT_TYPE if args.json_lines else TEXT_CONTENT_TYPE,
            url=args.url, base_config=args.config, work_dir=args.work_dir,
        ), args
    except ValueError as error:
        parser.error(str(error))


def round_dicts(figures: dict[str, list[RoundPhases]]) -> dict[str, list[dict[str, Any]]]:
    """Every round's throughputs and errors, without the raw latencies."""
    def phase(run) -> dict[str, Any] | None:
        if run is None:
            return None
        return {"count": run.count, "per_s": run.per_second, "elapsed_s": run.elapsed_s,
                "errors": run.errors, "batch_size": run.batch_size}

    return {name: [{"served": phase(r.served), "in_process": phase(r.in_process)}
                   for r in rounds] for name, rounds in figures.items()}


def load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The handlers loaded in-process log every batch at INFO; only the benchmark's own steps.
    logging.getLogger("torchserve_nlp.bench").setLevel(logging.INFO)
    config, args = parse_args(sys.argv[1:] if argv is None else argv)
    load_before = load_average()
    try:
        figures = run_compare(config)
    except ServerUnusable as error:
        raise SystemExit(f"bench --compare: {error}") from None
    rows = summarize(figures)
    settings = {
        **{key: value for key, value in asdict(config).items() if key != "texts"},
        "texts": len(config.texts), "texts_file": str(args.texts),
        "load_before": load_before, "load_after": load_average(),
    }
    labels = {c.name: f"{c.name} (in-process only: tokenizer + forward, padded to max_length)"
              for c in config.contenders if c.way == MAX_LENGTH}
    text = report_text(rows, settings, labels)
    print(text)
    if args.markdown_out is not None:
        args.markdown_out.write_text(text + "\n", encoding="utf-8")
    if args.json_out is not None:
        document = report_json(rows, settings, round_dicts(figures))
        args.json_out.write_text(json.dumps(document, indent=2, default=str) + "\n")
    if any(row.errors for row in rows):
        sys.exit(1)
