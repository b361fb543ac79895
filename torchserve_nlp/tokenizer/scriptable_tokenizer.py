"""A BERT WordPiece tokenizer that ``torch.jit.script`` accepts.

TorchScript strings are UTF-8 bytes: ``ord`` of one "character" is one byte and ``chr(n)``
writes one byte. The tokenizer therefore decodes UTF-8 into code points itself, normalizes
and splits on code points, and re-encodes each word to UTF-8 bytes for the vocabulary lookup.
"""

from pathlib import Path
from typing import Dict, List, Tuple, Union

import torch
from torch import Tensor, nn

from torchserve_nlp.tokenizer.bert_char_tables import BertCharTables, build_bert_char_tables


def read_vocab(vocab_file: Path) -> dict[str, int]:
    """One token per line; the line number is the id (the format of BERT's ``vocab.txt``)."""
    lines = Path(vocab_file).read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return {token.rstrip("\r"): index for index, token in enumerate(lines)}


class ScriptableBertTokenizer(nn.Module):
    """Maps ``List[str]`` to padded ``(input_ids, attention_mask)`` exactly as
    ``BertTokenizerFast(vocab, do_lower_case=...)(texts, truncation=True,
    max_length=max_length, padding=True)`` does."""

    vocab: Dict[str, int]
    char_map: Dict[int, List[int]]
    punctuation: Dict[int, bool]
    whitespace: Dict[int, bool]

    def __init__(
        self,
        vocab: dict[str, int],
        tables: BertCharTables,
        max_length: int = 128,
        max_input_chars_per_word: int = 100,
    ) -> None:
        super().__init__()
        for special in ("[UNK]", "[CLS]", "[SEP]", "[PAD]"):
            if special not in vocab:
                raise ValueError(f"vocabulary has no {special} token; is it a BERT vocab.txt?")
        if max_length < 2:
            raise ValueError(f"max_length must leave room for [CLS] and [SEP], got {max_length}")
        self.vocab = dict(vocab)
        self.char_map = {cp: list(out) for cp, out in tables.char_map.items()}
        self.punctuation = {cp: True for cp in tables.punctuation}
        self.whitespace = {cp: True for cp in tables.whitespace}
        self.max_length = max_length
        self.max_input_chars_per_word = max_input_chars_per_word
        self.unk_id = vocab["[UNK]"]
        self.cls_id = vocab["[CLS]"]
        self.sep_id = vocab["[SEP]"]
        self.pad_id = vocab["[PAD]"]

    @classmethod
    def from_vocab_file(
        cls,
        vocab_file: Path,
        lowercase: bool = True,
        max_length: int = 128,
        show_progress: bool = False,
    ) -> "ScriptableBertTokenizer":
        tables = build_bert_char_tables(lowercase, show_progress=show_progress)
        return cls(read_vocab(vocab_file), tables, max_length=max_length)

    def forward(self, texts: Union[str, List[str]]) -> Tuple[Tensor, Tensor]:
        if isinstance(texts, str):
            batch = [texts]
        else:
            batch = texts
        rows = [self.encode(text) for text in batch]
        longest = 0
        for row in rows:
            longest = max(longest, len(row))
        padded: List[List[int]] = []
        masks: List[List[int]] = []
        for row in rows:
            missing = longest - len(row)
            padded.append(row + [self.pad_id] * missing)
            masks.append([1] * len(row) + [0] * missing)
        return torch.tensor(padded, dtype=torch.long), torch.tensor(masks, dtype=torch.long)

    def encode(self, text: str) -> List[int]:
        """Token ids of one text, with [CLS] and [SEP], truncated to ``max_length``."""
        budget = self.max_length - 2
        ids: List[int] = [self.cls_id]
        for word in self.split_words(self.decode_utf8(text)):
            ids.extend(self.wordpiece(word))
            if len(ids) > budget:
                break
        ids = ids[: budget + 1]
        ids.append(self.sep_id)
        return ids

    def decode_utf8(self, text: str) -> List[int]:
        if not torch.jit.is_scripting():
            return [ord(char) for char in text]
        code_points: List[int] = []
        i = 0
        n = len(text)
        while i < n:
            lead = ord(text[i])
            if lead < 0x80:
                code_points.append(lead)
                i += 1
                continue
            if lead >= 0xF0:
                width = 4
                cp = lead & 0x07
            elif lead >= 0xE0:
                width = 3
                cp = lead & 0x0F
            else:
                width = 2
                cp = lead & 0x1F
            for k in range(1, width):
                cp = (cp << 6) | (ord(text[i + k]) & 0x3F)
            code_points.append(cp)
            i += width
        return code_points

    def split_words(self, code_points: List[int]) -> List[List[int]]:
        """Normalize each code point, then split on whitespace and isolate punctuation."""
        words: List[List[int]] = []
        current: List[int] = []
        for cp in code_points:
            mapped = self.char_map.get(cp)
            outputs = [cp] if mapped is None else mapped
            for out in outputs:
                if out == 32 or out in self.whitespace:
                    if len(current) > 0:
                        words.append(current)
                        current = []
                elif out in self.punctuation:
                    if len(current) > 0:
                        words.append(current)
                        current = []
                    words.append([out])
                else:
                    current.append(out)
        if len(current) > 0:
            words.append(current)
        return words

    def wordpiece(self, word: List[int]) -> List[int]:
        """Greedy longest-match-first; a word with any unmatched piece is one [UNK]."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_id]
        pieces = [utf8(cp) for cp in word]
        ids: List[int] = []
        start = 0
        while start < len(pieces):
            end = len(pieces)
            match = -1
            while start < end:
                candidate = "".join(pieces[start:end])
                if start > 0:
                    candidate = "##" + candidate
                found = self.vocab.get(candidate)
                if found is not None:
                    match = found
                    break
                end -= 1
            if match < 0:
                return [self.unk_id]
            ids.append(match)
            start = end
        return ids


def utf8(cp: int) -> str:
    """UTF-8 bytes of one code point, as a TorchScript string (where ``chr`` writes a byte)."""
    if cp < 0x80 or not torch.jit.is_scripting():
        return chr(cp)
    if cp < 0x800:
        return chr(0xC0 | (cp >> 6)) + chr(0x80 | (cp & 0x3F))
    if cp < 0x10000:
        return chr(0xE0 | (cp >> 12)) + chr(0x80 | ((cp >> 6) & 0x3F)) + chr(0x80 | (cp & 0x3F))
    return (
        chr(0xF0 | (cp >> 18))
        + chr(0x80 | ((cp >> 12) & 0x3F))
        + chr(0x80 | ((cp >> 6) & 0x3F))
        + chr(0x80 | (cp & 0x3F))
    )
