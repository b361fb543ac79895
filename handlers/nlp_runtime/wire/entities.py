"""Wire format of a token-classification request: text plus validated per-request parameters."""

from dataclasses import dataclass
from typing import Any

from nlp_runtime.errors import RequestError
from nlp_runtime.hf.config import (
    AggregationStrategy,
    TransformerHandlerConfig,
    enum_value,
    string_list,
)
from nlp_runtime.wire.explain import ExplainOptions
from nlp_runtime.wire.text import decode_text_request

PARAMETERS = ("aggregation_strategy", "ignore_labels")


@dataclass(frozen=True)
class EntityRequest:
    text: str
    strategy: AggregationStrategy
    ignore_labels: tuple[str, ...]
    explain: ExplainOptions | None = None


def decode_entity_request(
    request: dict[str, Any], content_type: str, defaults: TransformerHandlerConfig
) -> EntityRequest:
    """Text and parameters of one request; a bad or unknown parameter is a 400 naming it."""
    text_request = decode_text_request(request, content_type, PARAMETERS)
    parameters = text_request.parameters
    try:
        strategy = enum_value(
            AggregationStrategy,
            parameters.get("aggregation_strategy", defaults.aggregation_strategy.value),
            "aggregation_strategy",
        )
        ignore = string_list(
            parameters.get("ignore_labels", list(defaults.ignore_labels)), "ignore_labels"
        )
    except ValueError as error:
        raise RequestError(f"invalid parameter: {error}") from None
    return EntityRequest(text_request.text, strategy, ignore, text_request.explain)
