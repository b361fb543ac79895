"""The battery: named kinds of malformed request, each with the exact status it must get.

tests/integration/test_fuzz_torchserve.py sends each row's request to its target archives
through the real TorchServe, concurrently with good requests, and checks the status and that
the good ones are answered as alone. The table is the list of kinds (issue 11's "at least
40").
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fuzz_archives import EMBEDDINGBAG, KINDS, NER, QA, SCRIPTED, SEQUENCE, TRACED
from tests.fuzz_strategies import Sent
from tests.fuzz_values import nested

ALL = KINDS
TEXTS = (SCRIPTED, SEQUENCE, TRACED, EMBEDDINGBAG)  # the plain-text wire format
NOT_EXPLAINING = (SCRIPTED, EMBEDDINGBAG)
MAX_REQUEST_SIZE = 6_553_500  # config.properties, TorchServe's default
BIG = 100_001  # one character over the per-text limit
def base_body(kind: str) -> dict[str, Any]:
    if kind == QA:
        return {"question": "Who met Bob?", "context": "Ann met Bob in Zurich."}
    return {"data": "a calm and quiet afternoon"}


def with_text(kind: str, text: Any) -> dict[str, Any]:
    """The base body with its text (for QA, the question) replaced."""
    return {**base_body(kind), "question" if kind == QA else "data": text}


@dataclass(frozen=True)
class Row:
    name: str
    request: Callable[[str], Sent]  # archive kind -> the request
    status: int
    targets: tuple[str, ...] = ALL
    method: str = "POST"
    multipart: tuple[str, str, bytes, str] | None = None  # field, file name, content, type
    in_worker: bool = True  # False: TorchServe's frontend answers it, no worker sees it


def raw(body: bytes, content_type: str | None = None, **fields: Any) -> Callable[[str], Sent]:
    return lambda kind: Sent("battery", body, content_type, **fields)


def body(make: Callable[[str], Any], content_type: str | None = "application/json",
         **fields: Any) -> Callable[[str], Sent]:
    """A JSON body made per archive kind (``make(kind)``), escapes for any surrogate."""
    return lambda kind: Sent("battery", json.dumps(make(kind)).encode(), content_type, **fields)


def mutated(change: Callable[[dict], dict]) -> Callable[[str], Sent]:
    return body(lambda kind: change(base_body(kind)))


def parameters(**given: Any) -> Callable[[str], Sent]:
    return mutated(lambda b: {**b, "parameters": given})


def explain(value: Any) -> Callable[[str], Sent]:
    return mutated(lambda b: {**b, "explain": value})


def deep_raw(levels: int, objects: bool = False) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels if objects else b"[" * levels + b"]" * levels


def huge_number_body(kind: str) -> bytes:
    """JSON holding a 5,000-digit integer, more than Python parses (4,300 digits)."""
    head = json.dumps({**base_body(kind), "parameters": {"top_k": 0}})[:-3]
    return (head + "9" * 5000 + "}}").encode()


QA_CONTEXT_OF_MANY_WINDOWS = "Ann met Bob in Zurich. " * 80
BATTERY = [
    # --- size and depth (413 from the handler's limits; over max_request_size, TorchServe) ---
    Row("JSON nested 100,000 levels (arrays, application/json)",
        raw(deep_raw(100_000), "application/json"), 413),
    Row("JSON nested 100,000 levels (objects, no content type)",
        raw(deep_raw(100_000, objects=True)), 413),
    Row("JSON nested 33 levels inside parameters (parsed by TorchServe)",
        parameters(x=nested(33)), 413),
    Row("text of 100,001 characters (raw body)", raw(b"a" * BIG, "text/plain"), 413),
    Row("text of 100,001 characters (in JSON)", body(lambda k: with_text(k, "é" * BIG)), 413),
    Row("JSON key of 100,001 characters", mutated(lambda b: {**b, "k" * BIG: 1}), 413),
    Row("body over max_request_size (6,553,501 bytes)",
        raw(b"a" * (MAX_REQUEST_SIZE + 1), "text/plain"), 413, in_worker=False),
    Row("unterminated JSON string of 400,000 escaped quotes (no content type)",
        raw(b"{" + b'"\\' * 200_000), 413),
    Row("unterminated JSON string of 40,000 escaped quotes (QA: not JSON)",
        raw(b"{" + b'"\\' * 20_000), 400, (QA,)),
    Row("QA context needing more windows than max_windows",
        body(lambda k: {**base_body(k), "context": QA_CONTEXT_OF_MANY_WINDOWS}), 413, (QA,)),
    Row("NER text needing more windows than max_windows",
        body(lambda k: with_text(k, "Ann met Bob in Zurich. " * 80)), 413, (NER,)),
    # --- bytes that are not text ---
    Row("invalid UTF-8 (no content type)", raw(b"caf\xc3\x28 au lait"), 400),
    Row("invalid UTF-8 (text/plain)", raw(b"caf\xc3\x28 au lait", "text/plain"), 400),
    Row("CESU-8 encoded surrogate", raw(b"a \xed\xa0\x80 b"), 400),
    Row("overlong UTF-8 encoding of '/'", raw(b"a \xc0\xaf b"), 400),
    Row("UTF-16 text with a byte-order mark", raw("hello".encode("utf-16"), "text/plain"), 400),
    Row("NUL bytes in a raw body", raw(b"a calm\x00afternoon"), 400),
    Row("content type image/png", raw(b"\x89PNG\r\n\x1a\n", "image/png"), 400),
    Row("content type application/pdf", raw(b"%PDF-1.7", "application/pdf"), 400),
    # --- unpaired surrogates ---
    Row("lone high surrogate in the text (JSON escape, parsed by TorchServe)",
        body(lambda k: with_text(k, "caf\ud800 au lait")), 400),
    Row("reversed surrogate pair in the text", body(lambda k: with_text(k, "\udc00\ud800")), 400),
    Row("lone surrogate escape in a raw JSON body (curl -T)",
        body(lambda k: with_text(k, "\udfff"), None), 400, (QA,)),
    Row("lone surrogate as a JSON key", mutated(lambda b: {**b, "\ud800": 1}), 400),
    # --- empty and non-object bodies ---
    Row("empty body", raw(b""), 400),
    Row("whitespace-only body", raw(b" \n\t ", "text/plain"), 400),
    Row("GET without a body", raw(b""), 400, method="GET"),
    Row("JSON null", raw(b"null", "application/json"), 400),
    Row("JSON number", raw(b"42", "application/json"), 400),
    Row("JSON true", raw(b"true", "application/json"), 400),
    Row("JSON array of the body", body(lambda k: [base_body(k)]), 400),
    Row("JSON string instead of an object (QA)", raw(b'"Who met Bob?"', "application/json"),
        400, (QA,)),
    Row("invalid JSON", raw(b"{nope", "application/json"), 400),
    Row("truncated JSON", raw(b'{"data": "a calm', "application/json"), 400),
    Row("JSON with trailing garbage", raw(b'{"data": "hi"} x', "application/json"), 400),
    Row("JSON behind a byte-order mark", raw(b'\xef\xbb\xbf{"data": "hi"}', "application/json"),
        400),
    Row("integer of 5,000 digits", lambda k: Sent("battery", huge_number_body(k),
                                                  "application/json"), 400),
    # --- the text: wrong types, empty, missing, doubled ---
    Row("text is a number", body(lambda k: with_text(k, 3)), 400),
    Row("text is null", body(lambda k: with_text(k, None)), 400),
    Row("text is a list", body(lambda k: with_text(k, ["a", "b"])), 400),
    Row("text is an object", body(lambda k: with_text(k, {"data": "hi"})), 400),
    Row("text is empty", body(lambda k: with_text(k, "")), 400),
    Row("text is whitespace (ideographic space)", body(lambda k: with_text(k, "\u3000 \t")), 400),
    Row("no text key", body(lambda k: {"txt": "hi"}), 400),
    Row("two text keys", body(lambda k: {"data": "hi", "text": "ho"}), 400, (*TEXTS, NER)),
    Row("QA without a context", body(lambda k: {"question": "Who?"}), 400, (QA,)),
    Row("QA inputs is a string", body(lambda k: {"inputs": "Who met Bob?"}), 400, (QA,)),
    Row("QA unknown key inside inputs",
        body(lambda k: {"inputs": {**base_body(k), "answer": "Ann"}}), 400, (QA,)),
    Row("QA question longer than a window",
        body(lambda k: with_text(k, "who " * 60 + "?")), 400, (QA,)),
    # --- keys and parameters ---
    Row("unknown top-level key", mutated(lambda b: {**b, "lang": "en"}), 400),
    Row("unknown key holding CR LF", mutated(lambda b: {**b, "a\r\nSet-Cookie: x=1": 1}), 400),
    Row("parameters is a list", mutated(lambda b: {**b, "parameters": [1]}), 400),
    Row("parameters is null", mutated(lambda b: {**b, "parameters": None}), 400),
    Row("a parameter to an archive without parameters", parameters(top_k=2), 400, TEXTS),
    Row("unknown parameter", parameters(topk=2), 400, (NER, QA)),
    Row("parameter NaN", lambda k: Sent("battery", json.dumps(
        {**base_body(k), "parameters": {"top_k": float("nan")}}).encode(), "application/json"),
        400),
    Row("QA top_k as a string", parameters(top_k="2"), 400, (QA,)),
    Row("QA top_k 2.0", parameters(top_k=2.0), 400, (QA,)),
    Row("QA top_k true", parameters(top_k=True), 400, (QA,)),
    Row("QA top_k 0", parameters(top_k=0), 400, (QA,)),
    Row("QA top_k 21", parameters(top_k=21), 400, (QA,)),
    Row("QA max_answer_len over the window", parameters(max_answer_len=10_000), 400, (QA,)),
    Row("QA handle_impossible_answer 'true'", parameters(handle_impossible_answer="true"), 400,
        (QA,)),
    Row("QA align_to_words 1", parameters(align_to_words=1), 400, (QA,)),
    Row("NER aggregation_strategy unknown", parameters(aggregation_strategy="longest"), 400,
        (NER,)),
    Row("NER aggregation_strategy a number", parameters(aggregation_strategy=1), 400, (NER,)),
    Row("NER ignore_labels a string", parameters(ignore_labels="O"), 400, (NER,)),
    Row("NER ignore_labels holding a number", parameters(ignore_labels=["O", 1]), 400, (NER,)),
    # --- explanations ---
    Row("explain 'yes'", explain("yes"), 400),
    Row("explain unknown key", explain({"steps": 10}), 400),
    Row("explain method 'lime'", explain({"method": "lime"}), 400),
    Row("explain n_steps 1,000", explain({"n_steps": 1000}), 400),
    Row("explain max_evals as a string", explain({"method": "shap", "max_evals": "9"}), 400),
    Row("explain target not a label", explain({"target": "Neutral"}), 400, (SEQUENCE,)),
    Row("explain asked of an archive that cannot explain", explain(True), 400, NOT_EXPLAINING),
    Row("integrated gradients asked of the traced archive", explain(True), 400, (TRACED,)),
    Row("/explanations of an archive that cannot explain",
        raw(b"a calm afternoon", "text/plain", explain_endpoint=True), 400, (*NOT_EXPLAINING,
                                                                              TRACED)),
    Row("SHAP asked of QA and NER", explain({"method": "shap"}), 400, (NER, QA)),
    Row("explain target asked of QA and NER", explain({"target": "PER"}), 400, (NER, QA)),
    # --- forms (TorchServe takes them apart) ---
    Row("form without a data field (curl -d 'text')", raw(b"a calm afternoon",
                                                          form_field="a calm afternoon"), 400),
    Row("form with an empty data field", raw(b"", form_field="data"), 400),
    Row("multipart without a data part", raw(b""), 400,
        multipart=("file", "a.txt", b"a calm afternoon", "text/plain")),
    Row("multipart data part that is a PNG", raw(b""), 400,
        multipart=("data", "a.png", b"\x89PNG\r\n\x1a\n", "image/png")),
    # Error messages become the HTTP reason phrase: ASCII and clipped (nlp_runtime/base.py)
    Row("unknown key with a non-ASCII character", mutated(lambda b: {**b, "clé": 1}), 400,
        (SCRIPTED, QA)),
    Row("explain target that is not a label, non-ASCII", explain({"target": "Négatif"}), 400,
        (SEQUENCE,)),
    Row("wrong value of 99,999 characters, echoed in the message", explain("x" * 99_999), 400,
        (SCRIPTED, QA)),
]
