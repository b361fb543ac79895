"""Hypothesis strategies for the values a request is made of: texts (harmless and hostile
unicode), JSON of every shape and depth, and wrong-typed values for a key of a known type.

tests/fuzz_strategies.py puts them into requests for each archive kind.
"""

import json
from typing import Any

from hypothesis import strategies as st

LIMIT_CHARS = 100_000  # nlp_runtime.limits defaults, which the archives keep
LIMIT_DEPTH = 32

WORDS = (
    "i you it the a is was not and love hate great awful good bad movie day food service "
    "happy sad ann bob met paris zurich in on what who where lovely quiet ride home"
).split()
HARMLESS = (
    "Café", "naïve", "résumé", "Zürich", "中文", "日本語", "한국어", "😀", "👍🏽", "Москва",
    "Ελληνικά", "שלום", "مرحبا", "İstanbul", "ß", "ﬁne", "—", "«quotes»", "$100", "@user", "#tag",
)
NONCHARACTERS = (
    *map(chr, range(0xFDD0, 0xFDF0)),
    *(chr(plane * 0x10000 + low) for plane in range(17) for low in (0xFFFE, 0xFFFF)),
)
CONTROLS = (*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xA0)))
BIDI = ("\u200e", "\u200f", "\u061c", *map(chr, range(0x202A, 0x202F)),
        *map(chr, range(0x2066, 0x206A)))
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u3000", "\u2028")
COMBINING = (*map(chr, range(0x300, 0x370)), "\u0489", "\u20dd", "\u1ab0", "\ufe20")
RTL_WORDS = ("שלום", "עולם", "مرحبا", "بالعالم", "سلام", "ܫܠܡܐ", "ދިވެހި")

lone_surrogates = st.integers(0xD800, 0xDFFF).map(chr)
words = st.sampled_from(WORDS)


def good_texts(max_words: int = 8) -> st.SearchStrategy[str]:
    """Short texts of ordinary and harmless non-ASCII words: every archive answers them."""
    piece = st.one_of(words, words, st.sampled_from(HARMLESS))
    return st.lists(piece, min_size=1, max_size=max_words).map(" ".join)


combining_runs = st.builds(
    lambda base, marks: base + "".join(marks),
    st.sampled_from("aeoxz中"), st.lists(st.sampled_from(COMBINING), min_size=1, max_size=300),
)


@st.composite
def unicode_texts(draw: Any) -> str:
    """Texts of hostile but encodable unicode (no surrogates): noncharacters, controls,
    NUL, combining runs, bidi overrides around RTL words, invisible characters, words of
    hundreds of characters, random code points. Valid text, though maybe 'empty'."""
    piece = st.one_of(
        words,
        st.sampled_from(NONCHARACTERS + CONTROLS + BIDI + INVISIBLE),
        st.builds(lambda o, w, c: o + w + c, st.sampled_from(BIDI), st.sampled_from(RTL_WORDS),
                  st.sampled_from(BIDI)),
        combining_runs,
        st.builds(lambda c, n: c * n, st.sampled_from("aé中😀"), st.integers(50, 400)),
        st.text(max_size=12),
    )
    return "".join(draw(st.lists(piece, min_size=1, max_size=8)))


@st.composite
def surrogate_texts(draw: Any) -> str:
    """A text holding at least one unpaired surrogate (JSON can carry it, UTF-8 cannot)."""
    text = draw(good_texts())
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(lone_surrogates) + text[at:]


def huge_strings(min_chars: int = LIMIT_CHARS + 1) -> st.SearchStrategy[str]:
    """Strings over the per-text limit, built cheaply (one character repeated)."""
    return st.builds(lambda c, n: c * n, st.sampled_from("aé中😀 x"),
                     st.integers(min_chars, min_chars + 30_000))


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70),
    st.floats(), st.text(max_size=10),
)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """JSON values of every shape (NaN and infinities included, which Python's json writes
    and reads), nesting up to a few levels."""
    return st.recursive(
        json_scalars,
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=max_leaves,
    )


def nested(depth: int, leaf: Any = 1, as_object: bool = False) -> Any:
    """A JSON value ``depth`` levels deep, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = {"a": value} if as_object else [value]
    return value


def deep_values(min_depth: int = LIMIT_DEPTH + 1, max_depth: int = 400) -> st.SearchStrategy:
    """Parsed JSON nested deeper than the limit (Python's json writes and reads it)."""
    return st.builds(nested, st.integers(min_depth, max_depth), json_scalars, st.booleans())


def deep_json_bytes() -> st.SearchStrategy[bytes]:
    """Raw JSON nested up to 100,000 levels: deeper than any parser's recursion."""
    return st.builds(
        lambda n, obj: (b'{"a":' * n + b"1" + b"}" * n) if obj else b"[" * n + b"]" * n,
        st.integers(LIMIT_DEPTH + 1, 100_000), st.booleans(),
    )


def escaped_quotes() -> st.SearchStrategy[bytes]:
    """JSON whose last string never ends and is all escaped quotes: '{"a": "\\"\\"...'."""
    return st.builds(lambda n, tail: b'{"a": "' + b'\\"' * n + tail,
                     st.integers(1, 40_000), st.sampled_from([b"", b"\\", b"]"]))


def _is(kind: type) -> Any:
    if kind is int:
        return lambda v: isinstance(v, int) and not isinstance(v, bool)
    return lambda v: isinstance(v, kind)


def wrong_types(kind: type | tuple[type, ...], allow_none: bool = False) -> st.SearchStrategy:
    """JSON values that are not of ``kind`` (ints are not bools, nothing is coerced: "2" is
    not 2, 2.0 is not 2, "true" is not true); ``None`` only when ``allow_none``."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    tricky = st.sampled_from(["2", "1", "true", "false", 2.0, 1.0, 0, 1, True, False, [], {},
                              "", [1], {"a": 1}, float("nan"), float("inf")])
    return st.one_of(tricky, json_values()).filter(
        lambda v: not any(_is(k)(v) for k in kinds) and (allow_none or v is not None)
    )


def to_json(value: Any, ascii_only: bool = True) -> bytes:
    """``value`` as JSON bytes; unpaired surrogates go out as ``\\udxxx`` escapes."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")


def raw_bytes() -> st.SearchStrategy[bytes]:
    """Arbitrary bytes: text or not, depending on the draw."""
    return st.binary(max_size=256)


def not_utf8_bytes() -> st.SearchStrategy[bytes]:
    """Bytes that are surely not UTF-8: an invalid sequence (a CESU-8 surrogate among them)
    spliced into arbitrary bytes."""
    poison = st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80"])
    return st.builds(lambda b, p, i: b[: i % (len(b) + 1)] + p + b[i % (len(b) + 1):],
                     st.binary(max_size=64), poison, st.integers(0, 64))
