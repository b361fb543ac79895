"""Render a handler's explanation response as a self-contained HTML page.

    python scripts/explain_html.py response.json -o page.html
    curl ... | python scripts/explain_html.py - -o page.html     # the response from stdin
    python scripts/explain_html.py response.json -o -           # the page on stdout

Each attributed word gets a background colour: green for a positive score, red for a negative
one, its intensity proportional to |score| / max |score| of that explanation. One section per
explanation (one per entity for token classification). ``render_page(response)`` is the same
as a pure function.
"""

import argparse
import html
import json
import logging
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

POSITIVE_RGB = (26, 152, 80)
NEGATIVE_RGB = (215, 48, 39)
WHITE_RGB = (255, 255, 255)
# Above this intensity the word is written in white, so that it stays readable.
LIGHT_TEXT_FROM = 0.6
CORE_KEYS = ("method", "target", "text", "attributions")
METHOD_NAMES = {"integrated_gradients": "Integrated Gradients", "shap": "SHAP"}
SURROGATE = re.compile("[\ud800-\udfff]")

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em;
       color: #1b1b1b; background: #ffffff; }
h1 { font-size: 1.5em; }
section.explanation { border-top: 1px solid #cccccc; padding: 0.5em 0 1.5em; }
h2 { font-size: 1.2em; margin-bottom: 0.3em; }
p.prediction { margin: 0.3em 0; font-weight: 600; }
table.method { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
table.method th, table.method td { text-align: left; padding: 0.1em 0.8em 0.1em 0; }
table.method th { font-weight: normal; color: #555555; }
div.legend { display: flex; align-items: center; gap: 0.5em; margin: 0.8em 0; font-size: 0.9em; }
span.legend-scale { display: inline-block; width: 14em; height: 1em; border: 1px solid #999999;
                    background: linear-gradient(to right, NEGATIVE, #ffffff, POSITIVE); }
span.legend-caption { color: #555555; }
div.attributed-text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 1.15em;
                      line-height: 1.9; padding: 0.6em; border: 1px solid #dddddd; }
span.word { border-radius: 0.2em; }
"""


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


def _brief(value: object, limit: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _field(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise ExplanationError(f"{where}: missing {key!r} (has: {', '.join(sorted(mapping))})")
    return mapping[key]


def _string(mapping: Mapping[str, Any], key: str, where: str) -> str:
    value = _field(mapping, key, where)
    if not isinstance(value, str):
        raise ExplanationError(f"{where}.{key}: expected a string, got {_brief(value)}")
    if SURROGATE.search(value):
        raise ExplanationError(f"{where}.{key}: not valid Unicode (holds a lone surrogate)")
    return value


def _offset(mapping: Mapping[str, Any], key: str, where: str) -> int:
    value = _field(mapping, key, where)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ExplanationError(f"{where}.{key}: expected an integer offset, got {_brief(value)}")
    return value


def _score(mapping: Mapping[str, Any], where: str) -> float:
    value = _field(mapping, "score", where)
    try:
        score = float(value) if _is_number(value) else math.nan
    except OverflowError:  # an integer beyond float's range
        score = math.nan
    if not math.isfinite(score):
        raise ExplanationError(f"{where}.score: expected a finite number, got {_brief(value)}")
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
            f"{where}: text {_brief(word)} is not the explained text[{start}:{end}] "
            f"{_brief(text[start:end])}"
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
            f"{where}: expected an object with {', '.join(CORE_KEYS)}, got {_brief(raw)}"
        )
    method = _string(raw, "method", where)
    if not method:
        raise ExplanationError(f"{where}.method: empty")
    target, text = _string(raw, "target", where), _string(raw, "text", where)
    rows = _field(raw, "attributions", where)
    if not isinstance(rows, list):
        raise ExplanationError(f"{where}.attributions: expected a list, got {_brief(rows)}")
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
    return f"{value:.4g}" if _is_number(value) else str(value)


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
        raise ExplanationError(f"{where}: expected an entity object, got {_brief(entity)}")
    word = entity.get("word", "")
    return f"Entity: “{word}”" + _details(entity, ("entity_group", "entity"))


def _is_answer(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("answer"), str)


def _is_probability_map(value: object) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(_is_number(probability) for probability in value.values())
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
        f"or a list of answers, got {_brief(prediction)}"
    )


# ---------------------------------------------------------------- response


def _entity_sections(prediction: object, explanations: list[Any]) -> list[Section]:
    if not isinstance(prediction, list):
        raise ExplanationError(
            f"prediction: expected the list of entities that the explanation list explains, "
            f"got {_brief(prediction)}"
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
        raise ExplanationError(f"response: expected a JSON object, got {_brief(response)}")
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


# ---------------------------------------------------------------- rendering


def escape(text: str) -> str:
    """HTML-escape ``text`` for an element or an attribute; a carriage return is kept as a
    character reference (HTML parsers would fold a literal one into the next line feed)."""
    return html.escape(SURROGATE.sub("\ufffd", text), quote=True).replace("\r", "&#13;")


def intensity(score: float, max_abs: float) -> float:
    """|score| / max |score|, in [0, 1]; 0 when every score is 0."""
    return min(abs(score) / max_abs, 1.0) if max_abs > 0 else 0.0


def _hex(rgb: Sequence[int]) -> str:
    return "#" + "".join(f"{channel:02x}" for channel in rgb)


def word_colour(score: float, max_abs: float) -> str:
    """White blended towards green (positive) or red (negative) by the score's intensity."""
    base = POSITIVE_RGB if score > 0 else NEGATIVE_RGB
    weight = intensity(score, max_abs)
    return _hex([round(white + weight * (full - white)) for white, full in zip(WHITE_RGB, base,
                                                                             strict=True)])


def text_colour(score: float, max_abs: float) -> str:
    return "#ffffff" if intensity(score, max_abs) > LIGHT_TEXT_FROM else "#000000"


def format_score(score: float) -> str:
    return "0" if score == 0 else f"{score:+.4g}"


def render_word(row: Attribution, max_abs: float) -> str:
    style = (
        f"background-color: {word_colour(row.score, max_abs)}; "
        f"color: {text_colour(row.score, max_abs)}"
    )
    return (
        f'<span class="word" style="{style}" title="score {format_score(row.score)}" '
        f'data-score="{row.score!r}">{escape(row.text)}</span>'
    )


def render_text(explanation: Explanation) -> str:
    """The whole explained text, unattributed gaps included, each word in its colour."""
    parts, cursor = [], 0
    for row in explanation.attributions:
        parts.append(escape(explanation.text[cursor : row.start]))
        parts.append(render_word(row, explanation.max_abs))
        cursor = row.end
    parts.append(escape(explanation.text[cursor:]))
    return '<div class="attributed-text">' + "".join(parts) + "</div>"


def render_legend(explanation: Explanation) -> str:
    bound = explanation.max_abs
    scores = [row.score for row in explanation.attributions]
    spread = (
        f"scores here run from {format_score(min(scores))} to {format_score(max(scores))}"
        if scores
        else "no attributed words"
    )
    return (
        '<div class="legend">'
        f'<span class="legend-label">{format_score(-bound)}</span>'
        '<span class="legend-scale"></span>'
        f'<span class="legend-label">{format_score(bound)}</span>'
        f'<span class="legend-caption">red: against, green: for '
        f"“{escape(explanation.target)}”; intensity = |score| / {bound:.4g}; {spread}</span>"
        "</div>"
    )


def _metadata_value(value: object) -> str:
    if isinstance(value, str) or _is_number(value):
        return str(value)
    return _brief(value, limit=200)  # JSON spelling: true, null, lists, objects


def render_method(explanation: Explanation) -> str:
    name = METHOD_NAMES.get(explanation.method, explanation.method)
    rows = [("method", f"{name} ({explanation.method})"), ("target", explanation.target)]
    rows += [(key, _metadata_value(value)) for key, value in explanation.metadata.items()]
    cells = "".join(f"<tr><th>{escape(key)}</th><td>{escape(value)}</td></tr>"
                    for key, value in rows)
    return f'<table class="method">{cells}</table>'


def render_section(section: Section) -> str:
    return (
        '<section class="explanation">'
        f"<h2>{escape(section.heading)}</h2>"
        f'<p class="prediction">{escape(section.prediction)}</p>'
        + render_method(section.explanation)
        + render_legend(section.explanation)
        + render_text(section.explanation)
        + "</section>\n"
    )


def _css() -> str:
    return CSS.replace("NEGATIVE", _hex(NEGATIVE_RGB)).replace("POSITIVE", _hex(POSITIVE_RGB))


def render_page(response: dict) -> str:
    """The HTML page for one handler response; raises ExplanationError if it is malformed."""
    sections = parse_response(response)
    count = f"{len(sections)} explanation{'s' if len(sections) != 1 else ''}"
    body = "".join(map(render_section, sections)) or "<p>No entities, nothing to explain.</p>"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Word attributions ({count})</title>\n"
        f"<style>{_css()}</style>\n</head>\n<body>\n"
        f"<h1>Word attributions</h1>\n<p>{count}; hover a word for its score.</p>\n"
        f"{body}</body>\n</html>\n"
    )


# ---------------------------------------------------------------- command line


DESCRIPTION = """\
Render a handler's explanation response (the JSON from /explanations/<model>)
as one self-contained HTML page: each word coloured green for a positive
attribution and red for a negative one, one section per explanation."""
EPILOG = """\
examples:
  python scripts/explain_html.py response.json -o page.html
  curl ... | python scripts/explain_html.py - -o page.html"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("response", help="the handler's JSON response, or - for stdin")
    parser.add_argument("-o", "--output", required=True,
                        help="where to write the page, or - for stdout")
    return parser.parse_args(argv)


def read_response(source: str) -> object:
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    name = "stdin" if source == "-" else source
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise ExplanationError(f"{name}: not UTF-8 ({error})") from None
    except json.JSONDecodeError as error:
        raise ExplanationError(f"{name}: not valid JSON ({error})") from None


def write_page(page: str, destination: str) -> None:
    data = page.encode("utf-8")
    if destination == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(destination).write_bytes(data)
        logger.info("wrote %s (%d bytes)", destination, len(data))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = parse_args(argv)
    try:
        write_page(render_page(read_response(args.response)), args.output)
    except ExplanationError as error:
        logger.error("%s", error)
        return 1
    except OSError as error:
        logger.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
