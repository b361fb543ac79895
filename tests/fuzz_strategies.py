"""Hypothesis strategies for requests to each default archive kind (tests/fuzz_archives.py).

``hostile_requests(kind)`` draws malformed requests of every kind: raw bytes, bytes that are
not UTF-8 or hold NUL, JSON of every shape, JSON nested past the limit (parsed, and raw up to
100,000 levels), hostile unicode (unpaired surrogates as TorchServe hands them over parsed and
as raw ``\\ud800`` escapes, noncharacters, controls, combining runs, bidi overrides), texts
over the size limit in every place, wrong types for every key and parameter of the archive's
wire format, unknown keys, explanations an archive cannot give, every content type.
``good_requests(kind)`` draws valid ones. Each ``Sent`` says what is expected of it: ``OK``
(200), ``REFUSED`` (4xx, with ``status`` when the exact code is known) or ``ANY`` (some
"bad-looking" requests are valid, e.g. a text that is merely unicode-rich: all that is
required of those is that they are answered in a batch exactly as alone).
"""

import copy
import functools
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests import fuzz_values as v
from tests.fuzz_archives import EMBEDDINGBAG, NER, QA, SCRIPTED, SEQUENCE, TRACED
from torchserve_nlp.data.ner_data import LABELS as NER_LABELS
from torchserve_nlp.serving.local_archive import LocalRequest

OK, ANY, REFUSED = "ok", "any", "refused"
FORM = "application/x-www-form-urlencoded"
JSON_TYPES = ("application/json", "application/json; charset=utf-8", "Application/JSON")
RAW_TYPES = (None, "text/plain", "text/plain; charset=utf-8", "application/octet-stream")
NON_TEXT_TYPES = ("image/png", "audio/wav", "video/mp4", "application/pdf", "application/zip")
TEXT_KEYS = ("data", "inputs", "text")
TEXT = "<text key>"  # a path step standing for whichever text key the body uses
NO_EXPLANATIONS = (SCRIPTED, EMBEDDINGBAG, TRACED)  # TRACED: SHAP only, not by default
QA_PARAMETERS = {"top_k": int, "max_answer_len": int, "handle_impossible_answer": bool,
                 "align_to_words": bool}
STRATEGIES = ("none", "simple", "first", "average", "max")


@dataclass(frozen=True)
class Sent:
    """One HTTP request as the client sends it, and what is expected of its answer."""

    what: str
    body: bytes
    content_type: str | None = None
    expect: str = ANY
    status: int | None = None
    form_field: str | None = None  # a url-encoded form: ``body`` is this field's value
    explain_endpoint: bool = False  # sent to /explanations instead of /predictions

    def local(self) -> LocalRequest:
        """As TorchServe's frontend hands it to a worker (tests/fuzz_archives, LocalArchive)."""
        headers = {"explain": "True"} if self.explain_endpoint else {}
        if self.form_field is not None:
            headers["Content-Type"] = FORM
            return LocalRequest(self.body, None, headers, name=self.form_field)
        return LocalRequest(self.body, self.content_type, headers)


def _sent(what: str, expect: str, status: int | None = None) -> Any:
    return lambda body, content_type: Sent(what, body, content_type, expect, status)


def as_json(what: str, values: st.SearchStrategy, expect: str = REFUSED,
            status: int | None = 400, types: tuple = JSON_TYPES) -> st.SearchStrategy[Sent]:
    """``values`` sent as JSON bytes (surrogates as escapes) with one of ``types``."""
    return st.builds(_sent(what, expect, status), values.map(v.to_json), st.sampled_from(types))


def as_raw(what: str, bodies: st.SearchStrategy[bytes], types: tuple, expect: str = REFUSED,
           status: int | None = 400) -> st.SearchStrategy[Sent]:
    return st.builds(_sent(what, expect, status), bodies, st.sampled_from(types))


# --- bodies ---------------------------------------------------------------------------------

def qa_body(question: Any, context: Any, wrapper: str | None = None, **extra: Any) -> dict:
    pair = {"question": question, "context": context}
    return {wrapper: pair, **extra} if wrapper else {**pair, **extra}


def bodies_with_text(kind: str, texts: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """Otherwise valid JSON bodies whose text (for QA: question or context) is drawn."""
    if kind != QA:
        return st.builds(lambda key, text: {key: text}, st.sampled_from(TEXT_KEYS), texts)
    wrappers = st.sampled_from([None, "inputs", "data"])
    return st.one_of(
        st.builds(qa_body, texts, v.good_texts(20), wrappers),
        st.builds(qa_body, _questions(), texts, wrappers),
    )


def _questions() -> st.SearchStrategy[str]:
    return v.good_texts(5).map(lambda text: text + "?")


def _parameters(kind: str) -> st.SearchStrategy[dict]:
    if kind == NER:
        return st.fixed_dictionaries({}, optional={
            "aggregation_strategy": st.sampled_from(STRATEGIES + (" Simple", "MAX")),
            "ignore_labels": st.lists(st.sampled_from(NER_LABELS), unique=True, max_size=3),
        })
    if kind == QA:
        return st.fixed_dictionaries({}, optional={
            "top_k": st.integers(1, 3), "max_answer_len": st.integers(1, 30),
            "handle_impossible_answer": st.booleans(), "align_to_words": st.booleans(),
        })
    return st.just({})


@st.composite
def good_bodies(draw: Any, kind: str) -> dict:
    body = draw(bodies_with_text(kind, _questions() if kind == QA else v.good_texts()))
    parameters = draw(_parameters(kind))
    if parameters or draw(st.booleans()):
        body["parameters"] = parameters
    if draw(st.integers(0, 9)) == 0:
        body["explain"] = draw(st.sampled_from([None, False]))
    return body


# --- good requests --------------------------------------------------------------------------

@functools.cache
def good_requests(kind: str) -> st.SearchStrategy[Sent]:
    """Valid requests: every one must be answered 200, in a batch exactly as alone. Mostly
    JSON; one in twelve asks for integrated gradients (few steps), where the archive explains."""
    plain = as_json("good JSON", good_bodies(kind), OK, None)
    texts = v.good_texts().map(lambda text: text.encode("utf-8"))
    raw = as_raw("good raw text", texts, RAW_TYPES, OK, None)
    form = st.builds(lambda body: Sent("good form", body, None, OK, form_field="data"), texts)
    explained = as_json("good explained", st.builds(
        lambda b, n: {**b, "explain": {"n_steps": n}}, good_bodies(kind), st.integers(2, 3)),
        OK, None)
    choices = [explained if kind in (SEQUENCE, NER, QA) else plain,
               *([plain] * 3 if kind == QA else [raw, raw, form]), *[plain] * 8]
    return st.sampled_from(choices).flatmap(lambda strategy: strategy)


# --- hostile requests -----------------------------------------------------------------------

def _set(body: dict, path: tuple, value: Any) -> dict:
    body = copy.deepcopy(body)
    node = body
    for key in path[:-1]:
        if key == TEXT:
            key = next(k for k in body if k in TEXT_KEYS)
        if key not in node or not isinstance(node[key], dict):
            node[key] = {}
        node = node[key]
    last = next(k for k in node if k in TEXT_KEYS) if path[-1] == TEXT else path[-1]
    node[last] = value
    return body


def typed_slots(kind: str) -> list[tuple[tuple, Any, bool]]:
    """(path in the body, the JSON type it must have, whether null is also wrong)."""
    explain = [(("explain",), (bool, dict), False), (("explain", "method"), str, True),
               (("explain", "n_steps"), int, True), (("explain", "max_evals"), int, True),
               (("explain", "target"), str, False)]
    common = [(("parameters",), dict, True), *explain]
    if kind == QA:
        return [(("question",), str, True), (("context",), str, True), (("inputs",), dict, True),
                *((("parameters", key), kind_, True) for key, kind_ in QA_PARAMETERS.items()),
                *common]
    if kind == NER:
        return [((TEXT,), str, True), (("parameters", "aggregation_strategy"), str, True),
                (("parameters", "ignore_labels"), list, True), *common]
    return [((TEXT,), str, True), *common]


@st.composite
def wrong_typed(draw: Any, kind: str) -> dict:
    path, kind_, null_is_wrong = draw(st.sampled_from(typed_slots(kind)))
    value = draw(v.wrong_types(kind_, allow_none=null_is_wrong))
    body = draw(good_bodies(kind))
    if path == ("inputs",):
        return {"inputs": value}
    wrapper = next((k for k in ("inputs", "data") if k in body), None)
    if kind == QA and path[0] in ("question", "context") and wrapper:
        path = (wrapper, *path)
    return _set(body, path, value)


def _bad_values(kind: str) -> st.SearchStrategy[dict]:
    """Right types, wrong values: unknown keys and parameters, empty or doubled texts,
    out-of-range numbers, unknown choices, explanations this archive cannot give."""
    good = good_bodies(kind)
    unknown = st.text(min_size=1, max_size=12).filter(
        lambda k: k not in (*TEXT_KEYS, "parameters", "explain", "question", "context"))
    options = [
        st.builds(lambda b, k, x: {**b, k: x}, good, unknown, v.json_values()),
        st.builds(lambda b, k, x: _set(b, ("parameters", k), x), good,
                  unknown.filter(lambda k: k not in (*QA_PARAMETERS, "aggregation_strategy",
                                                     "ignore_labels")), v.json_values()),
        st.builds(lambda b, k, x: _set(b, ("explain", k), x), good,
                  unknown.filter(lambda k: k not in ("method", "n_steps", "max_evals", "target")),
                  v.json_values()),
        st.builds(lambda b, n: _set(b, ("explain", "n_steps"), n), good,
                  st.one_of(st.integers(max_value=1), st.integers(min_value=301))),
        st.builds(lambda b, n: _set(b, ("explain", "max_evals"), n), good,
                  st.one_of(st.integers(max_value=1), st.integers(min_value=2001))),
        st.builds(lambda b, m: _set(b, ("explain", "method"), m), good,
                  st.text(max_size=12).filter(lambda m: m not in ("shap", "integrated_gradients"))),
        bodies_with_text(kind, st.sampled_from(["", " ", "\t\n", "\u3000 ", "\r\n"])),
    ]
    if kind == QA:
        options += [
            st.builds(lambda q: {"question": q}, _questions()),
            st.builds(lambda c: {"inputs": {"context": c}}, v.good_texts(20)),
            st.builds(lambda b, n: _set(b, ("parameters", "top_k"), n), good,
                      st.one_of(st.integers(max_value=0), st.integers(min_value=21))),
            st.builds(lambda b, n: _set(b, ("parameters", "max_answer_len"), n), good,
                      st.one_of(st.integers(max_value=0), st.integers(min_value=49))),
            st.builds(lambda q, c: {"question": q, "context": c},
                      st.integers(40, 200).map(lambda n: "who " * n + "?"), v.good_texts(20)),
            good.filter(lambda b: "data" in b or "question" in b).map(
                lambda b: {**b, "inputs": {"question": "Who?", "context": "Ann."}}),
            st.builds(lambda b: {**b, "explain": {"method": "shap"}}, good),
            st.builds(lambda b, t: {**b, "explain": {"target": t}}, good, st.text(max_size=5)),
        ]
    else:
        options += [
            st.builds(lambda b, t: {**b, "text" if "data" in b else "data": t}, good,
                      v.good_texts()),
            st.builds(lambda b, p: {**b, "parameters": p}, good,
                      st.dictionaries(unknown, v.json_values(), min_size=1, max_size=3)
                      if kind != NER else st.just({"top_k": 1})),
        ]
    if kind == NER:
        options += [
            st.builds(lambda b, s: _set(b, ("parameters", "aggregation_strategy"), s), good,
                      st.text(max_size=10).filter(lambda s: s.strip().lower() not in STRATEGIES)),
            st.builds(lambda b, x: _set(b, ("parameters", "ignore_labels"), ["O", x]), good,
                      v.wrong_types(str, allow_none=True)),
            st.builds(lambda b: {**b, "explain": {"method": "shap"}}, good),
            st.builds(lambda b: {**b, "explain": {"target": "B-PER"}}, good),
        ]
    if kind in NO_EXPLANATIONS:
        options.append(st.builds(lambda b, e: {**b, "explain": e}, good,
                                 st.sampled_from([True, {}, {"n_steps": 2}])))
    return st.sampled_from(options).flatmap(lambda strategy: strategy)


def kserve_bodies(kind: str) -> st.SearchStrategy[dict]:
    """KServe v1 ``instances`` and v2 ``inputs`` envelopes around good and hostile values:
    lists of any length and content, tensors of every datatype, shape and name, ids and
    request-level parameters of any type."""
    instances = st.lists(st.one_of(good_bodies(kind), v.good_texts(), v.json_values()),
                         max_size=70)
    tensor = st.fixed_dictionaries(
        {"name": st.sampled_from(["text", "question", "context", "x"]),
         "datatype": st.sampled_from(["BYTES", "FP32", "bytes"]),
         "data": st.lists(st.one_of(v.good_texts(), v.json_values()), max_size=6)},
        optional={"shape": st.one_of(st.lists(st.integers(-1, 8), max_size=3), v.json_values()),
                  "parameters": st.one_of(st.just({"content_type": "application/json"}),
                                          v.json_values())},
    )
    v2 = st.fixed_dictionaries(
        {"inputs": st.lists(tensor, max_size=3)},
        optional={"id": st.one_of(st.text(max_size=8), v.json_values()),
                  "parameters": st.one_of(_parameters(kind), v.json_values())},
    )
    v1 = st.one_of(st.builds(lambda i: {"instances": i}, instances),
                   st.builds(lambda x: {"instances": x}, v.json_values()))
    return st.one_of(v1, v2)


@functools.cache
def hostile_requests(kind: str) -> st.SearchStrategy[Sent]:
    """Every kind of malformed request (and some that only look malformed) for ``kind``."""
    any_type = (*RAW_TYPES, *JSON_TYPES, *NON_TEXT_TYPES)
    text_types = (*RAW_TYPES, *JSON_TYPES) if kind == QA else JSON_TYPES
    utf8 = st.builds(lambda t: t.encode("utf-8"), v.unicode_texts())
    options = [
        as_json("wrong value", _bad_values(kind)),
        as_json("wrong type", wrong_typed(kind)),
        as_json("unpaired surrogate, parsed", bodies_with_text(kind, v.surrogate_texts())),
        as_raw("unpaired surrogate, raw escapes",
               bodies_with_text(kind, v.surrogate_texts()).map(v.to_json), text_types),
        as_json("unicode-rich text", bodies_with_text(kind, v.unicode_texts()), ANY, None),
        as_raw("unicode-rich raw text", utf8, RAW_TYPES, ANY, None),
        as_raw("not UTF-8", v.not_utf8_bytes(), (*RAW_TYPES, *JSON_TYPES)),
        as_raw("NUL bytes", st.builds(lambda t: t.encode() + b"\x00", v.good_texts()),
               (None, "application/octet-stream")),
        as_json("JSON too deep in a body", st.builds(
            lambda b, d, k: {**b, k: d}, good_bodies(kind), v.deep_values(),
            st.sampled_from(["parameters", "explain", "extra"])), status=413),
        as_json("text too long", bodies_with_text(kind, v.huge_strings()), status=413),
        as_json("key too long", st.builds(lambda b, k: {**b, k: 1}, good_bodies(kind),
                                          v.huge_strings()), status=413),
        as_json("JSON of any shape", v.json_values(), ANY, None),
        as_json("JSON scalar or array", v.json_values().filter(
            lambda x: not isinstance(x, (dict, str)))),
        as_json("JSON too deep", v.deep_values(), status=413),
        as_raw("raw JSON too deep", v.deep_json_bytes(), any_type, status=413),
        as_raw("raw text too long", v.huge_strings().map(str.encode), any_type, status=413),
        as_raw("unterminated string of escaped quotes", v.escaped_quotes(), any_type, ANY, None),
        as_raw("non-text content type", v.raw_bytes(), NON_TEXT_TYPES),
        as_raw("empty body", st.sampled_from([b"", b" ", b"\n\t "]), (*RAW_TYPES, *JSON_TYPES)),
        st.builds(lambda f, b: Sent("form without a data field", b, None, REFUSED, 400,
                                    form_field=f),
                  st.text(min_size=1, max_size=8).filter(lambda f: f != "data"),
                  st.binary(max_size=32)),
        st.builds(lambda b: Sent("form with an empty data field", b, None, REFUSED, 400,
                                 form_field="data"), st.just(b"")),
        as_raw("raw bytes", v.raw_bytes(), any_type, ANY, None),
        as_json("KServe v1 or v2 body", kserve_bodies(kind), ANY, None, (*JSON_TYPES, None)),
    ]
    if kind in NO_EXPLANATIONS:
        options.insert(2, st.builds(
            lambda s: Sent("explanations endpoint", s.body, s.content_type, REFUSED, 400,
                           s.form_field, explain_endpoint=True), good_requests(kind)))
    return st.sampled_from(options).flatmap(lambda strategy: strategy)  # each as often


@st.composite
def mixed_batches(draw: Any, kind: str, size: int = 8) -> list[Sent]:
    """A batch of up to ``size``: several hostile requests and at least one good one."""
    good = draw(st.lists(good_requests(kind), min_size=1, max_size=3))
    hostile = draw(st.lists(hostile_requests(kind), min_size=2, max_size=size - len(good)))
    return draw(st.permutations(good + hostile))
