"""A handler's explanation response → sections to render, checked against the contract
(method, target, text, attributions whose offsets index the text); an ExplanationError names
what is wrong."""

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CORE_KEYS = ("method", "target", "text", "attributions")
METHOD_NAMES = {"integrated_gradients": "Integrated Gradients", "shap": "SHAP"}
SURROGATE = re.compile("[\ud800-\udfff]")


class ExplanationError(ValueError):
    """The response does not follow the explanation contract; the message names what is wrong."""


@dataclass(frozen=True)
class Attribution:
    text: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Explanation:
    method: str
    target: str
    text: str
    attributions: tuple[Attribution, ...]
    metadata: dict[str, Any]

    @property
    def max_abs(self) -> float:
        return max((abs(row.score) for row in self.attributions), default=0.0)


@dataclass(frozen=True)
class Section:
    heading: str
    prediction: str
    explanation: Explanation


# ---------------------------------------------------------------- validation


def brief(value: object, limit: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _field(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise ExplanationError(f"{where}: missing {key!r} (has: {', '.join(sorted(mapping))})")
    return mapping[key]


def _string(mapping: Mapping[str, Any], key: str, where: str) -> str:
    value = _field(mapping, key, where)
    if not isinstance(value, str):
        raise ExplanationError(f"{where}.{key}: expected a string, got {brief(value)}")
    if SURROGATE.search(value):
        raise ExplanationError(f"{where}.{key}: not valid Unicode (holds a lone surrogate)")
    return value


def _offset(mapping: Mapping[str, Any], key: str, where: str) -> int:
    value = _field(mapping, key, where)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ExplanationError(f"{where}.{key}: expected an integer offset, got {brief(value)}")
    return value


def _score(mapping: Mapping[str, Any], where: str) -> float:
    value = _field(mapping, "score", where)
    try:
        score = float(value) if is_number(value) else math.nan
    except OverflowError:  # an integer beyond float's range
        score = math.nan
    if not math.isfinite(score):
        raise ExplanationError(f"{where}.score: expected a finite number, got {brief(value)}")
    return score


def parse_attribution(row: object, text: str, previous_end: int, where: str) -> Attribution:
    """One word row; its offsets must pick its own text out of ``text``, after the last row."""
    if not isinstance(row, dict):
        raise ExplanationError(f"{where}: expected an object {{text, start, end, score}}")
    word = _string(row, "text", where)
    start, end = _offset(row, "start", where), _offset(row, "end", where)
    score = _score(row, where)
    if not 0 <= start < end <= len(text):
        raise ExplanationError(
            f"{where}: start {start}, end {end} is not a non-empty span of the explained text "
            f"(length {len(text)})"
        )
    if text[start:end] != word:
        raise ExplanationError(
            f"{where}: text {brief(word)} is not the explained text[{start}:{end}] "
            f"{brief(text[start:end])}"
        )
    if start < previous_end:
        raise ExplanationError(
            f"{where}: starts at {start}, before the previous word ends ({previous_end}); "
            "rows must be in text order and must not overlap"
        )
    return Attribution(word, start, end, score)


def parse_explanation(raw: object, where: str) -> Explanation:
    """One explanation object E (method, target, text, attributions, metadata)."""
    if not isinstance(raw, dict):
        raise ExplanationError(
            f"{where}: expected an object with {', '.join(CORE_KEYS)}, got {brief(raw)}"
        )
    method = _string(raw, "method", where)
    if not method:
        raise ExplanationError(f"{where}.method: empty")
    target, text = _string(raw, "target", where), _string(raw, "text", where)
    rows = _field(raw, "attributions", where)
    if not isinstance(rows, list):
        raise ExplanationError(f"{where}.attributions: expected a list, got {brief(rows)}")
    attributions: list[Attribution] = []
    for index, row in enumerate(rows):
        previous_end = attributions[-1].end if attributions else 0
        attributions.append(
            parse_attribution(row, text, previous_end, f"{where}.attributions[{index}]")
        )
    metadata = {key: value for key, value in raw.items() if key not in CORE_KEYS}
    return Explanation(method, target, text, tuple(attributions), metadata)


# ---------------------------------------------------------------- predictions


def _format_number(value: object) -> str:
    return f"{value:.4g}" if is_number(value) else str(value)


def _details(item: Mapping[str, Any], label_keys: Sequence[str] = ()) -> str:
    """The suffix ' (label, score 0.97, characters 3–9)', from the keys that ``item`` has."""
    label = next((str(item[key]) for key in label_keys if item.get(key)), None)
    parts = [label] if label else []
    if "score" in item:
        parts.append(f"score {_format_number(item['score'])}")
    if "start" in item and "end" in item:
        parts.append(f"characters {item['start']}–{item['end']}")
    return f" ({', '.join(parts)})" if parts else ""


def describe_classification(prediction: Mapping[str, Any]) -> str:
    label, probability = max(prediction.items(), key=lambda item: item[1])
    return f"Predicted label: {label} (probability {probability:.4f})"


def describe_answer(answer: Mapping[str, Any]) -> str:
    text = answer["answer"]
    return "Answer: " + (f"“{text}”" if text else "(no answer)") + _details(answer)


def describe_entity(entity: object, where: str) -> str:
    if not isinstance(entity, dict):
        raise ExplanationError(f"{where}: expected an entity object, got {brief(entity)}")
    word = entity.get("word", "")
    return f"Entity: “{word}”" + _details(entity, ("entity_group", "entity"))


def _is_answer(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("answer"), str)


def _is_probability_map(value: object) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(is_number(probability) for probability in value.values())
    )


def describe_prediction(prediction: object, target: str) -> str:
    """The predicted label (arg-max, with its probability) or the answer, as one line."""
    if _is_answer(prediction):
        return describe_answer(prediction)
    if isinstance(prediction, list) and prediction and all(map(_is_answer, prediction)):
        matching = [answer for answer in prediction if answer["answer"] == target]
        return describe_answer((matching or prediction)[0])
    if _is_probability_map(prediction):
        return describe_classification(prediction)
    if isinstance(prediction, str):
        return f"Predicted label: {prediction}"
    raise ExplanationError(
        "prediction: expected {label: probability}, a QA answer {answer, score, start, end} "
        f"or a list of answers, got {brief(prediction)}"
    )


# ---------------------------------------------------------------- response


def _entity_sections(prediction: object, explanations: list[Any]) -> list[Section]:
    if not isinstance(prediction, list):
        raise ExplanationError(
            f"prediction: expected the list of entities that the explanation list explains, "
            f"got {brief(prediction)}"
        )
    if len(prediction) != len(explanations):
        raise ExplanationError(
            f"explanation: {len(explanations)} explanations for {len(prediction)} predicted "
            "entities; expected one per entity"
        )
    sections = []
    for index, (entity, raw) in enumerate(zip(prediction, explanations, strict=True)):
        explanation = parse_explanation(raw, f"explanation[{index}]")
        heading = f"Entity {index + 1} of {len(explanations)}: {explanation.target}"
        sections.append(Section(heading, describe_entity(entity, f"prediction[{index}]"),
                                explanation))
    return sections


def parse_response(response: object) -> list[Section]:
    """Validate a handler response and pair each explanation with what it explains."""
    if not isinstance(response, dict):
        raise ExplanationError(f"response: expected a JSON object, got {brief(response)}")
    if "explanation" not in response:
        raise ExplanationError(
            "response has no 'explanation' (has: "
            f"{', '.join(sorted(response)) or 'nothing'}); ask the handler for an explanation"
        )
    if "prediction" not in response:
        raise ExplanationError("response has no 'prediction' next to its 'explanation'")
    raw, prediction = response["explanation"], response["prediction"]
    if isinstance(raw, list):
        return _entity_sections(prediction, raw)
    explanation = parse_explanation(raw, "explanation")
    return [
        Section(f"Explanation: {explanation.target}",
                describe_prediction(prediction, explanation.target), explanation)
    ]
