"""Integrated-gradients explanations for the Transformer handlers, mapped to words.

Each function takes the eager model, its tokenizer and what to explain for a group of
requests, runs one batched ``integrated_gradients`` call per distinct step count, and returns
one explanation per request: the method, its target, the text the offsets index, one row per
word (subword scores summed) and the method's metadata.

QA and token classification explain one tokenized window each (the window holding the answer
or the entity), given as ``Window`` rows with their own objective arguments.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nlp_runtime.errors import RequestError
from nlp_runtime.explain.integrated_gradients import (
    IGResult,
    IGRows,
    Objective,
    integrated_gradients,
)
from nlp_runtime.explain.words import merge_words
from nlp_runtime.hf.model import eager_required
from nlp_runtime.hf.windows import Window
from nlp_runtime.wire.explain import ExplainMethod

METHOD = "integrated_gradients"
INTERNAL_BATCH = 64  # interpolated sequences per forward


def label_probability(output: Any, label_ids: torch.Tensor) -> torch.Tensor:
    """Sequence classification objective: softmax probability of each row's label."""
    return output.logits.softmax(-1).gather(1, label_ids[:, None]).squeeze(1)


def special_tokens(encoded: Any) -> torch.Tensor:
    return encoded["special_tokens_mask"].bool() | ~encoded["attention_mask"].bool()


@dataclass(frozen=True)
class ClassificationTargets:
    """Which rows of a tokenized batch to explain, toward which label, in how many steps."""

    rows: Sequence[int]
    texts: Sequence[str]
    label_ids: Sequence[int]
    n_steps: Sequence[int]


def explain_classification(
    model: torch.nn.Module,
    pad_id: int,
    encoded: Any,
    targets: ClassificationTargets,
    labels: Sequence[str],
) -> list[dict[str, Any]]:
    """Why each text got (or would get) its label: attributions to its label's probability.
    ``encoded`` is the batch as the handler tokenized it (padded, with offsets and special
    tokens); each group of rows is trimmed to its own longest, as if tokenized alone."""
    explanations: list[dict[str, Any] | None] = [None] * len(targets.rows)
    special = special_tokens(encoded)
    for steps in sorted(set(targets.n_steps)):
        group = [i for i, n in enumerate(targets.n_steps) if n == steps]
        rows = torch.tensor([targets.rows[i] for i in group])
        width = int(encoded["attention_mask"][rows].sum(-1).max())
        ig_rows = IGRows(
            encoded["input_ids"][rows, :width], encoded["attention_mask"][rows, :width],
            encoded["token_type_ids"][rows, :width], special[rows, :width],
            (torch.tensor([targets.label_ids[i] for i in group]),),
        )
        result = integrated_gradients(
            model, label_probability, ig_rows, pad_id, steps, INTERNAL_BATCH
        )
        for position, i in enumerate(group):
            row, text = targets.rows[i], targets.texts[i]
            words = merge_words(
                text, result.token_scores[position], encoded.word_ids(row)[:width],
                encoded["offset_mapping"][row, :width].numpy(),
                ~special[row, :width].numpy(),
            )
            explanations[i] = explanation(
                result, position, labels[targets.label_ids[i]], text, steps, words
            )
    return [e for e in explanations if e is not None]


def explanation(
    result: IGResult, row: int, target: str, text: str, n_steps: int, words: list
) -> dict[str, Any]:
    return {
        "method": METHOD,
        "target": target,
        "text": text,
        "attributions": [word.to_json() for word in words],
        "n_steps": n_steps,
        "convergence_delta": float(result.delta[row]),
        "output": float(result.output[row]),
        "baseline_output": float(result.baseline_output[row]),
    }


def argmax_label(probabilities: dict[str, float]) -> str:
    return max(probabilities, key=probabilities.__getitem__)


def qa_span_logits(output: Any, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """QA objective: start logit of the answer's first token + end logit of its last."""
    start = output.start_logits.gather(1, starts[:, None]).squeeze(1)
    return start + output.end_logits.gather(1, ends[:, None]).squeeze(1)


def entity_probability(
    output: Any, token_mask: torch.Tensor, label_mask: torch.Tensor
) -> torch.Tensor:
    """Token classification objective: over the entity's tokens, the summed probability of
    its label(s) (B- and I- of an entity group)."""
    probabilities = output.logits.softmax(-1)  # [rows, tokens, labels]
    per_token = (probabilities * label_mask[:, None, :]).sum(-1)
    return (per_token * token_mask).sum(-1)


def explain_windows(
    model: torch.nn.Module,
    objective: Objective,
    windows: Sequence[Window],
    targets: Sequence[Sequence[Any]],
    n_steps: Sequence[int],
    pad_id: int,
) -> list[tuple[IGResult, int]]:
    """IG for each window (padded together, grouped by step count): (result, row) pairs in
    input order. ``targets[i]`` holds window i's objective arguments."""
    found: list[tuple[IGResult, int] | None] = [None] * len(windows)
    for steps in sorted(set(n_steps)):
        group = [i for i, n in enumerate(n_steps) if n == steps]
        width = max(len(windows[i].input_ids) for i in group)
        ids = torch.full((len(group), width), pad_id, dtype=torch.long)
        types = torch.zeros((len(group), width), dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        special = torch.ones((len(group), width), dtype=torch.bool)
        for row, i in enumerate(group):
            n = len(windows[i].input_ids)
            ids[row, :n] = torch.as_tensor(windows[i].input_ids)
            types[row, :n] = torch.as_tensor(windows[i].token_type_ids)
            mask[row, :n] = 1
            special[row, :n] = torch.as_tensor(windows[i].special)
        columns = list(zip(*(targets[i] for i in group), strict=True))
        rows = IGRows(ids, mask, types, special, tuple(_stack(c) for c in columns))
        result = integrated_gradients(model, objective, rows, pad_id, steps, INTERNAL_BATCH)
        for row, i in enumerate(group):
            found[i] = (result, row)
    return [f for f in found if f is not None]


def _stack(values: Sequence[Any]) -> torch.Tensor:
    """One objective argument of a group as a tensor: scalars stacked, vectors zero-padded
    to the longest (a per-token mask is as long as its window, the longest being the width)."""
    tensors = [torch.as_tensor(v) for v in values]
    if tensors[0].dim() == 0:
        return torch.stack(tensors)
    out = torch.zeros((len(tensors), max(len(t) for t in tensors)), dtype=tensors[0].dtype)
    for row, tensor in enumerate(tensors):
        out[row, : len(tensor)] = tensor
    return out


def window_words(
    text: str, result: IGResult, row: int, window: Window, sequence: int
) -> list[dict[str, Any]]:
    """Word rows of one sequence of the window (0: the first text, 1: a pair's second)."""
    n = len(window.input_ids)
    in_text = np.array([s == sequence for s in window.sequence_ids]) & ~np.asarray(window.special)
    words = merge_words(text, result.token_scores[row, :n], window.word_ids, window.offsets,
                        in_text)
    return [word.to_json() for word in words]


def metadata(result: IGResult, row: int, n_steps: int) -> dict[str, Any]:
    return {
        "n_steps": n_steps,
        "convergence_delta": float(result.delta[row]),
        "output": float(result.output[row]),
        "baseline_output": float(result.baseline_output[row]),
    }


def gradient_requests(
    items: Sequence[Any], outputs: Sequence[Any], eager_available: bool, task: str
) -> tuple[list[Any], list[int]]:
    """For tasks explained by integrated gradients only, on their own predictions: a result
    per item (None, or the 400 of a request that cannot be explained) and the indices of the
    requests to explain."""
    results: list[Any] = [None] * len(items)
    ready = []
    for i, item in enumerate(items):
        if item.explain is None or isinstance(outputs[i], RequestError):
            continue
        if item.explain.method is not ExplainMethod.INTEGRATED_GRADIENTS:
            results[i] = RequestError(f"{task} is explained by integrated_gradients only")
        elif item.explain.target is not None:
            results[i] = RequestError(f"{task} explains its own predictions; drop 'explain.target'")
        elif not eager_available:
            results[i] = eager_required("this archive")
        else:
            ready.append(i)
    return results, ready
