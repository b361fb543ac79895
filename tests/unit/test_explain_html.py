"""scripts/explain_html.py: the page for each response shape, its colours, escaping, errors."""

import copy
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scripts.explain_html import main
from torchserve_nlp.report.parse import ExplanationError
from torchserve_nlp.report.render import NEGATIVE_RGB, POSITIVE_RGB, render_page, word_colour

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "explain_html.py"


def words(text: str, scores: dict[str, float]) -> list[dict]:
    """Attribution rows for each listed word's first occurrence, in text order."""
    rows = []
    for word, score in scores.items():
        start = text.index(word)
        rows.append({"text": word, "start": start, "end": start + len(word), "score": score})
    return sorted(rows, key=lambda row: row["start"])


def explanation(text: str, scores: dict[str, float], target: str = "Positive", **meta) -> dict:
    return {"method": "integrated_gradients", "target": target, "text": text,
            "attributions": words(text, scores), **meta}


CLASSIFICATION = {
    "prediction": {"Negative": 0.25, "Positive": 0.75},
    "explanation": explanation(
        "I  love this,\tbut the ending was awful.",
        {"love": 0.5, "ending": -0.1, "awful": -2.0},
        n_steps=50, convergence_delta=0.0031,
    ),
}


class Page(HTMLParser):
    """Sections, their headings and attributed texts, and every word span of a page."""

    def __init__(self, page: str):
        super().__init__()
        self.tags: list[str] = []
        self.sections = 0
        self.headings: list[str] = []
        self.texts: list[str] = []
        self.spans: list[dict[str, str]] = []
        self.predictions: list[str] = []
        self._open: list[str] = []  # class of each open element
        self.feed(page)
        self.close()

    def _inside(self, cls: str) -> bool:
        return cls in self._open

    def handle_starttag(self, tag, attrs):
        attributes = {key: value or "" for key, value in attrs}
        self.tags.append(tag)
        cls = attributes.get("class", tag)
        if tag == "section":
            self.sections += 1
        if cls == "attributed-text":
            self.texts.append("")
        if cls == "prediction":
            self.predictions.append("")
        if tag == "h2":
            self.headings.append("")
        if cls == "word":
            self.spans.append({**attributes, "_text": ""})
        if tag not in ("meta", "br"):
            self._open.append(cls)

    def handle_endtag(self, tag):
        self._open.pop()

    def handle_data(self, data):
        if self._inside("attributed-text"):
            self.texts[-1] += data
        if self._inside("prediction"):
            self.predictions[-1] += data
        if self._inside("h2"):
            self.headings[-1] += data
        if self._inside("word"):
            self.spans[-1]["_text"] += data


def rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def background(span: dict[str, str]) -> tuple[int, int, int]:
    return rgb(re.search(r"background-color: (#[0-9a-f]{6})", span["style"]).group(1))


# ------------------------------------------------------------------ content


def test_text_content_is_the_original_text_with_its_gaps():
    text = "\n  Ça va?\r\n Très  bien 😀😀 — 中文テキスト\tend \r"
    response = {"prediction": {"ok": 1.0},
                "explanation": explanation(text, {"va": 0.2, "bien": -0.3, "中文": 0.1, "end": 1})}
    page = render_page(response)
    parsed = Page(page)
    assert parsed.texts == [text]
    assert [span["_text"] for span in parsed.spans] == ["va", "bien", "中文", "end"]
    page.encode("utf-8")  # valid UTF-8 throughout
    assert '<meta charset="utf-8">' in page


def test_script_in_text_target_and_metadata_is_escaped():
    text = 'Click <script>alert("x")</script> & <img src=x onerror=alert(1)> now'
    response = {"prediction": {"<b>bold</b>": 0.9, "other": 0.1},
                "explanation": explanation(text, {"<script>": 0.5, "now": -0.5},
                                           target="<script>t</script>",
                                           note="</table><script>bad()</script>")}
    page = render_page(response)
    assert "<script" not in page.lower() and "<img" not in page.lower() and "<b>" not in page
    assert '>&lt;script&gt;</span>alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img' in page
    parsed = Page(page)
    assert parsed.texts == [text]
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert parsed.predictions == ["Predicted label: <b>bold</b> (probability 0.9000)"]


def test_page_is_self_contained():
    page = render_page(CLASSIFICATION)
    for external in ("http://", "https://", "src=", "<link", "<script", "@import", "url("):
        assert external not in page
    assert "<style>" in page


def test_each_word_has_a_title_with_its_score():
    spans = Page(render_page(CLASSIFICATION)).spans
    assert [span["title"] for span in spans] == ["score +0.5", "score -0.1", "score -2"]
    assert [float(span["data-score"]) for span in spans] == [0.5, -0.1, -2.0]


def test_classification_shows_the_arg_max_label_method_metadata_and_legend():
    page = render_page(CLASSIFICATION)
    parsed = Page(page)
    assert parsed.sections == 1
    assert parsed.predictions == ["Predicted label: Positive (probability 0.7500)"]
    assert "Integrated Gradients" in page and "integrated_gradients" in page
    assert "<th>n_steps</th><td>50</td>" in page
    assert "<th>convergence_delta</th><td>0.0031</td>" in page
    flags = render_page(broken(["explanation", "baseline"], {"zero": True, "ids": None}))
    assert "<th>baseline</th><td>{&quot;zero&quot;: true, &quot;ids&quot;: null}</td>" in flags
    # the legend's range is ± the largest |score| of the explanation
    assert '<span class="legend-label">-2</span>' in page
    assert '<span class="legend-label">+2</span>' in page


def test_question_answering_shows_the_answer_explained():
    context = "Satya Nadella talks about Surface tomorrow."
    answers = [{"answer": "Surface", "score": 0.6, "start": 26, "end": 33},
               {"answer": "Satya Nadella", "score": 0.3, "start": 0, "end": 13}]
    shap = {"method": "shap", "target": "Satya Nadella", "text": context,
            "attributions": words(context, {"Satya": 0.4, "Nadella": 0.3, "Surface": -0.2}),
            "max_evals": 200, "base_value": -1.25}
    page = render_page({"prediction": answers, "explanation": shap})
    assert Page(page).predictions == [
        "Answer: “Satya Nadella” (score 0.3, characters 0–13)"]
    assert "SHAP (shap)" in page and "<th>max_evals</th><td>200</td>" in page
    single = render_page({"prediction": answers[0], "explanation": shap})
    assert Page(single).predictions == ["Answer: “Surface” (score 0.6, characters 26–33)"]
    impossible = {**answers[0], "answer": "", "start": 0, "end": 0}
    assert "Answer: (no answer)" in render_page({"prediction": impossible, "explanation": shap})


def test_token_classification_has_one_section_per_entity():
    text = "barack obama met angela merkel in berlin"
    entities = [
        {"entity_group": "PER", "score": 0.85, "word": "barack obama", "start": 0, "end": 12},
        {"entity_group": "PER", "score": 0.8, "word": "angela merkel", "start": 17, "end": 30},
        {"entity_group": "LOC", "score": 0.7, "word": "berlin", "start": 34, "end": 40},
    ]
    explanations = [
        explanation(text, {"barack": 0.9, "obama": 0.8, "met": -0.1}, target="barack obama"),
        explanation(text, {"angela": 0.5, "merkel": 0.6}, target="angela merkel"),
        explanation(text, {"in": 0.3, "berlin": 0.9}, target="berlin"),
    ]
    parsed = Page(render_page({"prediction": entities, "explanation": explanations}))
    assert parsed.sections == 3
    assert parsed.headings == ["Entity 1 of 3: barack obama", "Entity 2 of 3: angela merkel",
                               "Entity 3 of 3: berlin"]
    assert parsed.texts == [text] * 3
    assert parsed.predictions[0] == "Entity: “barack obama” (PER, score 0.85, characters 0–12)"
    assert len(parsed.spans) == 3 + 2 + 2


def test_no_entities_gives_a_page_without_sections():
    page = render_page({"prediction": [], "explanation": []})
    assert Page(page).sections == 0 and "nothing to explain" in page


# ------------------------------------------------------------------ colours


def test_colour_is_green_for_positive_red_for_negative_and_white_for_zero():
    assert rgb(word_colour(1.0, 1.0)) == POSITIVE_RGB
    assert rgb(word_colour(-1.0, 1.0)) == NEGATIVE_RGB
    assert word_colour(0.0, 1.0) == word_colour(0.5, 0.0) == "#ffffff"
    red, green, _ = rgb(word_colour(0.3, 1.0))
    assert green > red
    red, green, _ = rgb(word_colour(-0.3, 1.0))
    assert red > green


def test_intensity_is_proportional_to_the_share_of_the_largest_magnitude():
    def distance_from_white(score: float, max_abs: float) -> float:
        return sum(255 - channel for channel in rgb(word_colour(score, max_abs)))

    full = distance_from_white(1.0, 1.0)
    for share in (0.1, 0.25, 0.5, 0.75):
        assert distance_from_white(share, 1.0) == pytest.approx(share * full, abs=3)
    # only the ratio counts, at any magnitude
    assert word_colour(-3e-7, 6e-7) == word_colour(-0.5, 1.0) == word_colour(-5e6, 1e7)


def test_rendered_words_are_coloured_by_sign_and_relative_magnitude():
    spans = Page(render_page(CLASSIFICATION)).spans  # love +0.5, ending -0.1, awful -2.0
    love, ending, awful = (background(span) for span in spans)
    assert awful == NEGATIVE_RGB  # the largest |score| gets the full colour
    assert love[1] > love[0] and ending[0] > ending[1]
    assert sum(ending) > sum(love) > sum(awful)  # lighter the smaller the share of 2.0


# ------------------------------------------------------------------ errors


def broken(path: list, value=None, delete: bool = False) -> dict:
    response = copy.deepcopy(CLASSIFICATION)
    node = response
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return response


ROW = ["explanation", "attributions", 1]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        ({"prediction": {"a": 1.0}}, "response has no 'explanation' (has: prediction)"),
        ([1, 2], "response: expected a JSON object"),
        (broken(["prediction"], delete=True), "response has no 'prediction'"),
        (broken(["explanation"], "nope"), "explanation: expected an object"),
        (broken(["explanation", "method"], delete=True), "explanation: missing 'method'"),
        (broken(["explanation", "text"], 3), "explanation.text: expected a string"),
        (broken(["explanation", "attributions"], {}), "explanation.attributions: expected a list"),
        (broken(ROW, "love"), "explanation.attributions[1]: expected an object"),
        (broken([*ROW, "score"], delete=True), "explanation.attributions[1]: missing 'score'"),
        (broken([*ROW, "score"], "high"), "explanation.attributions[1].score: expected a finite"),
        (broken([*ROW, "score"], float("nan")), "explanation.attributions[1].score: expected"),
        (broken([*ROW, "score"], 10**400), "explanation.attributions[1].score: expected"),
        (broken([*ROW, "score"], True), "explanation.attributions[1].score: expected"),
        (broken(["explanation", "text"], "lone \ud800"), "explanation.text: not valid Unicode"),
        (broken([*ROW, "start"], 1.5), "explanation.attributions[1].start: expected an integer"),
        (broken([*ROW, "end"], 999), "explanation.attributions[1]: start 22, end 999"),
        (broken([*ROW, "text"], "endin"), "explanation.attributions[1]: text \"endin\" is not"),
        (broken([*ROW, "start"], 2), "explanation.attributions[1]: text \"ending\" is not"),
        (broken(["prediction"], [1]), "prediction: expected {label: probability}"),
    ],
)
def test_malformed_responses_name_what_is_wrong(response, message):
    with pytest.raises(ExplanationError) as raised:
        render_page(response)
    assert message in str(raised.value)


def test_rows_out_of_order_or_overlapping_are_rejected():
    swapped = copy.deepcopy(CLASSIFICATION)
    rows = swapped["explanation"]["attributions"]
    rows[0], rows[1] = rows[1], rows[0]  # ending (22-28) before love (3-7)
    with pytest.raises(ExplanationError, match=r"attributions\[1\]: starts at 3, before .* \(28\)"):
        render_page(swapped)
    text = "unbelievable"
    overlapping = {"prediction": {"a": 1.0}, "explanation": explanation(text, {})}
    overlapping["explanation"]["attributions"] = [
        {"text": "unbeliev", "start": 0, "end": 8, "score": 1.0},
        {"text": "lievable", "start": 4, "end": 12, "score": 1.0},
    ]
    with pytest.raises(ExplanationError, match="must be in text order and must not overlap"):
        render_page(overlapping)


def test_token_classification_needs_one_explanation_per_entity():
    text = "angela merkel"
    one = explanation(text, {"angela": 1.0}, target="angela merkel")
    with pytest.raises(ExplanationError, match="2 explanations for 1 predicted entities"):
        render_page({"prediction": [{"word": "angela merkel"}], "explanation": [one, one]})
    bad = copy.deepcopy(one)
    bad["attributions"][0]["end"] = 4
    with pytest.raises(ExplanationError, match=r"explanation\[1\]\.attributions\[0\]: text"):
        render_page({"prediction": [{}, {}], "explanation": [one, bad]})


# ------------------------------------------------------------------ command line


def run_cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], input=stdin,
                          capture_output=True, timeout=60, cwd=REPO_ROOT)


def test_cli_writes_the_page_to_a_file_or_from_stdin_to_stdout(tmp_path):
    response_path = tmp_path / "response.json"
    response_path.write_text(json.dumps(CLASSIFICATION), encoding="utf-8")
    page_path = tmp_path / "page.html"
    assert main([str(response_path), "-o", str(page_path)]) == 0
    assert page_path.read_text(encoding="utf-8") == render_page(CLASSIFICATION)
    completed = run_cli("-", "-o", "-", stdin=json.dumps(CLASSIFICATION).encode())
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.decode("utf-8") == render_page(CLASSIFICATION)


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b'{"prediction": {"a": 1.0}}', "response has no 'explanation'"),
        (b"{not json", "stdin: not valid JSON"),
        (b"\xff\xfe", "stdin: not UTF-8"),
        (json.dumps(broken([*ROW, "score"], delete=True)).encode(), "missing 'score'"),
    ],
)
def test_cli_reports_bad_input_without_a_traceback(tmp_path, stdin, message):
    page_path = tmp_path / "page.html"
    completed = run_cli("-", "-o", str(page_path), stdin=stdin)
    stderr = completed.stderr.decode()
    assert completed.returncode == 1
    assert message in stderr and "Traceback" not in stderr
    assert completed.stdout == b"" and not page_path.exists()


def test_cli_reports_a_missing_file_without_a_traceback(tmp_path):
    completed = run_cli(str(tmp_path / "missing.json"), "-o", str(tmp_path / "page.html"))
    assert completed.returncode == 1
    assert "missing.json" in completed.stderr.decode()
    assert "Traceback" not in completed.stderr.decode()
