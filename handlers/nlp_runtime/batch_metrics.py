"""What each batch reports to TorchServe's metrics API, and reporting it without ever failing
a request.

The figures are pure: ``batch_samples``, ``refusal_samples`` and ``forward_samples`` turn a
batch's size, its error statuses and its forwards (``ForwardFigures``) into ``Sample``s.
``MetricsRecorder`` hands samples to an emitter (nlp_runtime.base adapts TorchServe's metrics
cache, the only place that imports TorchServe) and swallows whatever the emitter raises: a
metric that cannot be recorded is logged, never a request's problem.

The names, types and dimensions are fixed here (``METRICS``) and declared, identically, in
the repository's ``artifacts/torchserve_metrics.yaml``: TorchServe's frontend exports in
Prometheus mode only the metrics its metrics config declares, and it matches a sample's
dimension values to the declared names by position. Dimensions are few and bounded (the
model, TorchServe's ``Level``, and the HTTP status of a refusal) so that Prometheus keeps a
handful of series per model.
"""

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

logger = logging.getLogger(__name__)

MODEL_NAME, LEVEL, STATUS = "ModelName", "Level", "Status"
MODEL_LEVEL = "Model"  # TorchServe's Level of every model metric
UNIT = "Count"


class MetricKind(Enum):
    """TorchServe's metric types (ts.metrics.metric_type_enum.MetricTypes values and the
    metrics config's keys)."""

    COUNTER = "counter"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: MetricKind
    dimensions: tuple[str, ...]


MODEL_DIMENSIONS = (MODEL_NAME, LEVEL)
# What each measures: README.md, "Metrics".
BATCH_SIZE = MetricSpec("BatchSize", MetricKind.HISTOGRAM, MODEL_DIMENSIONS)
REQUESTS_REFUSED = MetricSpec("RequestsRefused", MetricKind.COUNTER, (*MODEL_DIMENSIONS, STATUS))
FORWARDS_PER_BATCH = MetricSpec("ForwardsPerBatch", MetricKind.HISTOGRAM, MODEL_DIMENSIONS)
REAL_TOKENS = MetricSpec("RealTokens", MetricKind.COUNTER, MODEL_DIMENSIONS)
PADDED_TOKENS = MetricSpec("PaddedTokens", MetricKind.COUNTER, MODEL_DIMENSIONS)
WINDOWS_PER_REQUEST = MetricSpec("WindowsPerRequest", MetricKind.HISTOGRAM, MODEL_DIMENSIONS)
METRICS = (
    BATCH_SIZE, REQUESTS_REFUSED, FORWARDS_PER_BATCH, REAL_TOKENS, PADDED_TOKENS,
    WINDOWS_PER_REQUEST,
)


@dataclass(frozen=True)
class Sample:
    """One value of one metric, with its dimension values in ``spec.dimensions`` order."""

    spec: MetricSpec
    value: int
    dimensions: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ForwardFigures:
    """What a batch's prediction forwards did: how many, the real (unpadded) tokens they
    carried, the tokens they computed with padding, and per tokenized request its windows
    (empty for tasks that do not window)."""

    forwards: int
    real_tokens: int
    padded_tokens: int
    windows_per_request: tuple[int, ...] = ()


def _dimensions(model: str, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return ((MODEL_NAME, model), (LEVEL, MODEL_LEVEL), *extra)


def batch_samples(model: str, size: int) -> list[Sample]:
    return [Sample(BATCH_SIZE, size, _dimensions(model))]


def refusal_samples(model: str, statuses: Iterable[int]) -> list[Sample]:
    """One counter increment per status, by how many requests of the batch got it."""
    return [
        Sample(REQUESTS_REFUSED, count, _dimensions(model, (STATUS, str(status))))
        for status, count in sorted(Counter(statuses).items())
    ]


def forward_samples(model: str, figures: ForwardFigures | None) -> list[Sample]:
    if figures is None:
        return []
    dimensions = _dimensions(model)
    return [
        Sample(FORWARDS_PER_BATCH, figures.forwards, dimensions),
        Sample(REAL_TOKENS, figures.real_tokens, dimensions),
        Sample(PADDED_TOKENS, figures.padded_tokens, dimensions),
        *(Sample(WINDOWS_PER_REQUEST, n, dimensions) for n in figures.windows_per_request),
    ]


class MetricsRecorder:
    """Records samples through ``emit`` (None: nowhere, e.g. a context without metrics).
    A failing ``emit`` is logged once per metric and otherwise ignored."""

    def __init__(self, model: str, emit: Callable[[Sample], None] | None) -> None:
        self.model = model
        self.emit = emit
        self._failed: set[str] = set()

    def batch(self, size: int) -> None:
        self.record(batch_samples(self.model, size))

    def refused(self, statuses: Sequence[int]) -> None:
        self.record(refusal_samples(self.model, statuses))

    def forwards(self, figures_of: Callable[[], ForwardFigures | None]) -> None:
        """The figures ``figures_of`` computes (after the forwards ran), if it can."""
        try:
            figures = figures_of()
        except Exception:  # a bug in the figures must not fail the batch they describe
            logger.exception("the batch's forward figures could not be computed")
            return
        self.record(forward_samples(self.model, figures))

    def record(self, samples: Iterable[Sample]) -> None:
        if self.emit is None:
            return
        for sample in samples:
            try:
                self.emit(sample)
            except Exception as error:  # a metric must never fail the request it describes
                if sample.spec.name not in self._failed:
                    self._failed.add(sample.spec.name)
                    logger.warning(
                        "metric %s could not be recorded (%s: %s); the requests are served "
                        "without it", sample.spec.name, type(error).__name__, error,
                    )
