"""SHAP explanations for sequence classification: the partition explainer over a text masker.

SHAP values here are in probability space: for the explained label, the word values plus the
base value (the probability with every token masked) add up to the predicted probability.
The masker hides tokens with the tokenizer's [MASK]; the model is evaluated at most
``max_evals`` times per request, in batches.
"""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import shap

from nlp_runtime.explain.words import merge_words

METHOD = "shap"
EVAL_BATCH = 32

Probabilities = Callable[[list[str]], np.ndarray]  # texts → [texts, labels]


def shap_explainer(probabilities: Probabilities, tokenizer: Any, labels: Sequence[str]) -> Any:
    def model(texts: np.ndarray) -> np.ndarray:
        return probabilities([str(text) for text in texts])

    return shap.Explainer(
        model, shap.maskers.Text(tokenizer), output_names=list(labels), algorithm="partition"
    )


def explain_with_shap(
    explainer: Any, tokenizer: Any, text: str, label_index: int, label: str, max_evals: int,
    max_length: int, output: float,
) -> dict[str, Any]:
    """``output``: the label's predicted probability, which base value + word values match."""
    values = explainer([text], max_evals=max_evals, batch_size=EVAL_BATCH, silent=True)
    encoded = tokenizer(text, truncation=True, max_length=max_length,
                        return_offsets_mapping=True, return_special_tokens_mask=True)
    token_values = values.values[0][:, label_index]
    if len(token_values) != len(encoded["input_ids"]):
        raise RuntimeError(
            f"SHAP gave {len(token_values)} token values for {len(encoded['input_ids'])} tokens"
        )
    in_text = ~np.asarray(encoded["special_tokens_mask"], dtype=bool)
    words = merge_words(text, token_values, encoded.word_ids(), np.asarray(
        encoded["offset_mapping"]), in_text)
    base = float(values.base_values[0][label_index])
    return {
        "method": METHOD,
        "target": label,
        "text": text,
        "attributions": [word.to_json() for word in words],
        "max_evals": max_evals,
        "base_value": base,
        "output": output,
    }
