"""Pure statistics for benchmarks: percentiles, latency summaries, throughput, error counts."""

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LatencySummary:
    """Latencies in milliseconds."""

    count: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolating linearly between closest ranks
    (numpy's default method)."""
    if not values:
        raise ValueError("percentile of no values; measure at least one")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize_latencies(seconds: Sequence[float]) -> LatencySummary:
    milliseconds = [value * 1000 for value in seconds]
    if not milliseconds:
        raise ValueError("no latencies to summarize; the run completed no request")
    return LatencySummary(
        count=len(milliseconds),
        mean_ms=sum(milliseconds) / len(milliseconds),
        p50_ms=percentile(milliseconds, 50),
        p95_ms=percentile(milliseconds, 95),
        p99_ms=percentile(milliseconds, 99),
        max_ms=max(milliseconds),
    )


def throughput(count: int, elapsed_seconds: float) -> float:
    """Items per second; 0 when nothing was timed."""
    return count / elapsed_seconds if elapsed_seconds > 0 else 0.0


def error_counts(outcomes: Iterable[int | str], ok: int = 200) -> dict[str, int]:
    """How often each non-``ok`` outcome (a status code, or an exception name) happened."""
    counts = Counter(str(outcome) for outcome in outcomes if outcome != ok)
    return dict(sorted(counts.items()))


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None
