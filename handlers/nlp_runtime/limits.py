"""Input limits every handler applies before decoding a request, so that no body can make a
worker recurse, allocate or tokenize without bound.

Defaults are stated here, once; an archive may change them in its model-config.yaml::

    handler:
      limits:
        max_json_depth: 32       # nesting of JSON objects and arrays
        max_text_chars: 100000   # characters in one text (a raw body or one JSON string)
        max_instances: 64        # texts in one KServe v1/v2 request (wire.kserve)

The request's size in bytes is capped before it reaches a worker, by TorchServe's
``max_request_size`` (config.properties). A request over a limit gets a 413 that names the
limit and how to raise it. Plain Python: archives that carry only torch and TorchServe use it.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from nlp_runtime.errors import RequestError

# A JSON string, escapes included, or an unterminated one running to the end of the text.
# Possessive, so adversarial input cannot make it backtrack; and no attempt can fail, so the
# scan is linear (a failed string would be retried from each later quote: '{"\\"\\"\\"...'
# took minutes per 100,000 characters).
JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.S)
BRACKETS = re.compile(r"[\[\]{}]")
LIMITS_KEY = "limits"
WHERE = "the archive's model-config.yaml, handler: limits:"


@dataclass(frozen=True)
class InputLimits:
    max_json_depth: int = 32
    max_text_chars: int = 100_000
    max_instances: int = 64

    @classmethod
    def from_model_config(cls, model_yaml_config: Mapping[str, Any] | None) -> "InputLimits":
        handler = (model_yaml_config or {}).get("handler") or {}
        raw = (handler.get(LIMITS_KEY) if isinstance(handler, Mapping) else None) or {}
        if not isinstance(raw, Mapping):
            raise ValueError(f"{WHERE} must be a mapping, got {type(raw).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ValueError(f"unknown limit {unknown[0]!r} in {WHERE}; known: {known}")
        for key, value in raw.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {key!r} must be a positive integer, got {value!r}")
        return cls(**raw)

    def check(self, value: Any) -> None:
        """413 if ``value`` (a raw body, or JSON TorchServe already parsed) is over a limit."""
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", errors="replace")
        if isinstance(value, str):
            self._check_text(value)
        elif isinstance(value, (dict, list)):
            self._check_parsed(value)

    def _check_text(self, text: str) -> None:
        if not text.lstrip().startswith(("{", "[")):
            self._check_length(len(text))
            return
        # Without parsing: brackets counted outside strings, then each string measured. Text
        # that only starts like JSON (unbalanced brackets) is measured whole, as text.
        rest = JSON_STRING.sub("", text)
        depth = 0
        for bracket in BRACKETS.finditer(rest):
            depth += 1 if bracket[0] in "[{" else -1
            if depth > self.max_json_depth:
                raise self._too_deep()
        if depth != 0:
            self._check_length(len(text))
        longest = max((len(m[0]) - 2 for m in JSON_STRING.finditer(text)), default=0)
        self._check_length(longest)

    def _check_parsed(self, value: dict | list) -> None:
        stack: list[tuple[Any, int]] = [(value, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > self.max_json_depth:
                raise self._too_deep()
            children = node.values() if isinstance(node, dict) else node
            if isinstance(node, dict):
                children = [*node.keys(), *children]
            for child in children:
                if isinstance(child, str):
                    self._check_length(len(child))
                elif isinstance(child, (dict, list)):
                    stack.append((child, depth + 1))

    def _check_length(self, chars: int) -> None:
        if chars > self.max_text_chars:
            raise RequestError(
                f"a text of {chars} characters is over this archive's limit of "
                f"{self.max_text_chars}; send shorter texts, or raise max_text_chars in {WHERE}",
                status=413,
            )

    def _too_deep(self) -> RequestError:
        return RequestError(
            f"JSON nests deeper than this archive's limit of {self.max_json_depth} levels; "
            f"send flatter JSON, or raise max_json_depth in {WHERE}",
            status=413,
        )
