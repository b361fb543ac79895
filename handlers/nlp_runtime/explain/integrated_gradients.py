"""Integrated gradients on a Transformer's word-embedding layer (captum), for a batch of rows.

A row is one tokenized input with its own scalar objective (a label's probability, an answer's
start and end logits, ...). All rows go through one captum call; the ``n_steps`` interpolated
copies are run ``internal_batch_size`` at a time. The baseline keeps special tokens ([CLS],
[SEP], [PAD]) and replaces every other token by [PAD], so special tokens get no attribution and
the word rows sum to objective(input) - objective(baseline), up to the reported delta.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import LayerIntegratedGradients

# objective(model output, *row targets) → one scalar per row
Objective = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class IGRows:
    input_ids: torch.Tensor  # [rows, tokens]
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    special: torch.Tensor  # bool [rows, tokens]
    targets: tuple[torch.Tensor, ...]  # per-row arguments of the objective, first dim = rows


@dataclass(frozen=True)
class IGResult:
    token_scores: np.ndarray  # [rows, tokens]
    delta: np.ndarray  # [rows]: sum of attributions - (output - baseline_output)
    output: np.ndarray  # [rows]
    baseline_output: np.ndarray  # [rows]


def integrated_gradients(
    model: torch.nn.Module,
    objective: Objective,
    rows: IGRows,
    pad_id: int,
    n_steps: int,
    internal_batch_size: int,
) -> IGResult:
    def forward(input_ids, attention_mask, token_type_ids, *targets):
        output = model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        )
        return objective(output, *targets)

    baseline = torch.where(rows.special, rows.input_ids, torch.full_like(rows.input_ids, pad_id))
    extra = (rows.attention_mask, rows.token_type_ids, *rows.targets)
    explainer = LayerIntegratedGradients(forward, model.get_input_embeddings())
    with torch.enable_grad():
        attributions, delta = explainer.attribute(
            inputs=rows.input_ids,
            baselines=baseline,
            additional_forward_args=extra,
            n_steps=n_steps,
            internal_batch_size=internal_batch_size,
            return_convergence_delta=True,
        )
    with torch.no_grad():
        output = forward(rows.input_ids, *extra)
        baseline_output = forward(baseline, *extra)
    return IGResult(
        token_scores=attributions.sum(-1).detach().double().numpy(),
        delta=delta.detach().double().numpy(),
        output=output.double().numpy(),
        baseline_output=baseline_output.double().numpy(),
    )
