"""Per-character tables that let a TorchScript tokenizer reproduce BERT's normalizer.

The tables are read off the reference implementation (the ``tokenizers`` library's
``BertNormalizer`` and ``BertPreTokenizer``) by probing every Unicode code point. Deriving
them from Python's ``unicodedata`` instead would not match: the reference classifies
characters with an older Unicode database (it drops ~1.5k characters that Unicode 14 has
assigned, and lowercases some letters differently), and a serving tokenizer must agree with
the training tokenizer, quirks included.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenizers.normalizers import BertNormalizer
from tokenizers.pre_tokenizers import BertPreTokenizer
from tqdm import tqdm

MAX_CODE_POINT = 0x10FFFF
SURROGATES = range(0xD800, 0xE000)


@dataclass(frozen=True)
class BertCharTables:
    """How BERT's normalizer and pre-tokenizer treat each code point in isolation.

    ``char_map`` lists only the code points the normalizer changes (to nothing, to a space,
    lowercased, accent-stripped, or padded with spaces for CJK); every other code point maps
    to itself. ``punctuation`` and ``whitespace`` list the code points the pre-tokenizer
    isolates or splits on.
    """

    char_map: dict[int, list[int]]
    punctuation: frozenset[int]
    whitespace: frozenset[int]


def _code_points(show_progress: bool) -> list[int]:
    points = [cp for cp in range(MAX_CODE_POINT + 1) if cp not in SURROGATES]
    return tqdm(points, desc="probing code points", disable=not show_progress, mininterval=1)


def build_bert_char_tables(lowercase: bool, show_progress: bool = False) -> BertCharTables:
    """Probe the reference normalizer configured as BERT's (accent stripping follows
    ``lowercase``, as in ``BertTokenizerFast`` with ``strip_accents=None``)."""
    normalizer = BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
    )
    pre_tokenizer = BertPreTokenizer()
    char_map: dict[int, list[int]] = {}
    punctuation: set[int] = set()
    whitespace: set[int] = set()
    for cp in _code_points(show_progress):
        char = chr(cp)
        normalized = normalizer.normalize_str(char)
        if normalized != char:
            char_map[cp] = [ord(c) for c in normalized]
        pieces = pre_tokenizer.pre_tokenize_str(f"x{char}x")
        if len(pieces) == 3:
            punctuation.add(cp)
        elif len(pieces) == 2:
            whitespace.add(cp)
    return BertCharTables(char_map, frozenset(punctuation), frozenset(whitespace))
