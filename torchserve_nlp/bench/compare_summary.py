"""From the raw phases of every round to one row per archive (pure): median throughputs,
latency percentiles over all rounds' requests pooled, and the per-round ratios' medians
(server ÷ in-process, and each archive over the baseline, the first archive)."""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from torchserve_nlp.bench.bench_stats import percentile
from torchserve_nlp.bench.phases import PhaseRun
from torchserve_nlp.bench.round_stats import median, median_ratio, per_round_ratios, spread


@dataclass(frozen=True)
class RoundPhases:
    """One archive in one round: the HTTP phase (None for an in-process-only contender) and
    the in-process one."""

    served: PhaseRun | None
    in_process: PhaseRun


@dataclass(frozen=True)
class ArchiveRow:
    name: str
    rounds: int
    served_per_s: float | None  # requests/s, median over rounds
    served_per_s_range: tuple[float, float] | None  # lowest and highest round
    served_p50_ms: float | None  # per request, all rounds pooled
    served_p99_ms: float | None
    in_process_per_s: float | None  # texts/s, median over rounds
    in_process_p50_ms: float | None  # per batch, all rounds pooled
    in_process_p99_ms: float | None
    served_over_in_process: float | None  # median of per-round ratios
    served_over_baseline: float | None  # median of per-round ratios to the first archive
    in_process_over_baseline: float | None
    errors: dict[str, int]  # both phases, all rounds: outcome -> count
    stopped_by_time_limit: bool
    # CPU ms per served request by part (load generator, frontend, workers), and per text
    # in-process: medians over rounds.
    served_cpu_ms: dict[str, float] = field(default_factory=dict)
    in_process_cpu_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def pooled_percentile_ms(runs: Sequence[PhaseRun | None], q: float) -> float | None:
    latencies = [value for run in runs if run is not None for value in run.latencies_s]
    return percentile(latencies, q) * 1000 if latencies else None


def throughputs(runs: Sequence[PhaseRun | None]) -> list[float | None]:
    return [None if run is None or run.count == 0 else run.per_second for run in runs]


def merged_errors(runs: Sequence[PhaseRun | None]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for run in runs:
        for outcome, count in ({} if run is None else run.errors).items():
            merged[outcome] = merged.get(outcome, 0) + count
    return dict(sorted(merged.items()))


def median_cpu_ms(runs: Sequence[PhaseRun | None]) -> dict[str, float]:
    """Each part's median over the runs that measured it."""
    parts = dict.fromkeys(part for run in runs if run is not None for part in run.cpu_ms)
    medians = {
        part: median([run.cpu_ms.get(part) for run in runs if run is not None])
        for part in parts
    }
    return {part: value for part, value in medians.items() if value is not None}


def summarize(rounds_by_name: Mapping[str, Sequence[RoundPhases]]) -> list[ArchiveRow]:
    """One row per archive, in the given order; the first is the baseline."""
    if not rounds_by_name:
        return []
    counts = {name: len(rounds) for name, rounds in rounds_by_name.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"archives measured in different numbers of rounds: {counts}")
    served = {n: throughputs([r.served for r in rs]) for n, rs in rounds_by_name.items()}
    local = {n: throughputs([r.in_process for r in rs]) for n, rs in rounds_by_name.items()}
    baseline = next(iter(rounds_by_name))
    rows = []
    for name, rounds in rounds_by_name.items():
        served_runs = [r.served for r in rounds]
        local_runs = [r.in_process for r in rounds]
        rows.append(ArchiveRow(
            name=name,
            rounds=len(rounds),
            served_per_s=median(served[name]),
            served_per_s_range=spread(served[name]),
            served_p50_ms=pooled_percentile_ms(served_runs, 50),
            served_p99_ms=pooled_percentile_ms(served_runs, 99),
            in_process_per_s=median(local[name]),
            in_process_p50_ms=pooled_percentile_ms(local_runs, 50),
            in_process_p99_ms=pooled_percentile_ms(local_runs, 99),
            served_over_in_process=median(per_round_ratios(served[name], local[name])),
            served_over_baseline=median_ratio(served[name], served[baseline]),
            in_process_over_baseline=median_ratio(local[name], local[baseline]),
            errors=merged_errors(served_runs + local_runs),
            stopped_by_time_limit=any(
                run is not None and run.stopped_by_time_limit for run in served_runs + local_runs
            ),
            served_cpu_ms=median_cpu_ms(served_runs),
            in_process_cpu_ms=median_cpu_ms(local_runs),
        ))
    return rows
