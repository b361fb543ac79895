"""A side-by-side benchmark as a Markdown table (for docs/benchmarks.md) and as JSON."""

from collections.abc import Sequence
from typing import Any

from torchserve_nlp.bench.compare_summary import ArchiveRow
from torchserve_nlp.bench.cpu_share import FRONTEND, IN_PROCESS, LOAD_GENERATOR, WORKERS

MISSING = "—"
HEADER = (
    "| archive | served req/s (rounds' range) | served p50 / p99 ms | in-process texts/s "
    "| in-process p50 / p99 ms per batch | served ÷ in-process | served × baseline "
    "| in-process × baseline | errors |"
)


def number(value: float | None, digits: int = 1) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def times(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}×"


def pair(first: float | None, second: float | None) -> str:
    if first is None and second is None:
        return MISSING
    return f"{number(first)} / {number(second)}"


def served_cell(row: ArchiveRow) -> str:
    if row.served_per_s is None:
        return MISSING
    if row.served_per_s_range is None or row.rounds < 2:
        return number(row.served_per_s)
    low, high = row.served_per_s_range
    return f"{number(row.served_per_s)} ({number(low)}–{number(high)})"


def errors_cell(row: ArchiveRow) -> str:
    text = ", ".join(f"{count} × {outcome}" for outcome, count in row.errors.items()) or "0"
    return text + (" (time limit hit)" if row.stopped_by_time_limit else "")


def markdown_table(rows: Sequence[ArchiveRow], labels: dict[str, str] | None = None) -> str:
    """One line per archive; ``labels`` may name a row more fully than its model name."""
    labels = labels or {}
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for row in rows:
        cells = [
            labels.get(row.name, row.name),
            served_cell(row),
            pair(row.served_p50_ms, row.served_p99_ms),
            number(row.in_process_per_s),
            pair(row.in_process_p50_ms, row.in_process_p99_ms),
            number(row.served_over_in_process, 2),
            times(row.served_over_baseline),
            times(row.in_process_over_baseline),
            errors_cell(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


CPU_HEADER = (
    "| archive | load generator | frontend | workers | served, all parts | in-process "
    "| workers ÷ in-process |"
)


def cpu_table(rows: Sequence[ArchiveRow]) -> str:
    """CPU milliseconds per request, served (by part) and in-process (per text), for the
    archives served; empty when no row measured its served CPU."""
    served = [row for row in rows if row.served_cpu_ms]
    if not served:
        return ""
    lines = [CPU_HEADER, "|" + "---|" * CPU_HEADER.count(" | ") + "---|"]
    for row in served:
        parts = row.served_cpu_ms
        workers, local = parts.get(WORKERS), row.in_process_cpu_ms.get(IN_PROCESS)
        known = [parts.get(p) for p in (LOAD_GENERATOR, FRONTEND, WORKERS)]
        total = None if None in known else sum(v for v in known if v is not None)
        ratio = None if workers is None or not local else workers / local
        cells = [row.name, *(number(value, 2) for value in known), number(total, 2),
                 number(local, 2), number(ratio, 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_text(rows: Sequence[ArchiveRow], settings: dict[str, Any],
                labels: dict[str, str] | None = None) -> str:
    """The table with a line above saying what was measured."""
    baseline = rows[0].name if rows else MISSING
    intro = (
        f"{settings['rounds']} rounds, concurrency {settings['concurrency']}, "
        f"{settings['requests']} measured requests per phase and round "
        f"({settings['warmup']} warm-up excluded); medians over rounds; ratios are medians of "
        f"per-round ratios; baseline {baseline}; load average "
        f"{settings['load_before']} before, {settings['load_after']} after"
    )
    text = intro + "\n\n" + markdown_table(rows, labels)
    cpu = cpu_table(rows)
    if cpu:
        text += "\n\nCPU milliseconds per request (served) and per text (in-process):\n\n" + cpu
    return text


def report_json(rows: Sequence[ArchiveRow], settings: dict[str, Any],
                per_round: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "settings": settings,
        "baseline": rows[0].name if rows else None,
        "archives": [row.as_dict() for row in rows],
        "rounds": per_round,
    }
