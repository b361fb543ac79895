"""Sections → one self-contained HTML page: each attributed word gets a background colour,
green for a positive score and red for a negative one, its intensity proportional to
|score| / max |score| of that explanation. ``render_page(response)`` is a pure function."""

import html
from collections.abc import Sequence

from torchserve_nlp.report.parse import (
    METHOD_NAMES,
    SURROGATE,
    Attribution,
    Explanation,
    Section,
    brief,
    is_number,
    parse_response,
)

POSITIVE_RGB = (26, 152, 80)
NEGATIVE_RGB = (215, 48, 39)
WHITE_RGB = (255, 255, 255)
# Above this intensity the word is written in white, so that it stays readable.
LIGHT_TEXT_FROM = 0.6

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
    if isinstance(value, str) or is_number(value):
        return str(value)
    return brief(value, limit=200)  # JSON spelling: true, null, lists, objects


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
