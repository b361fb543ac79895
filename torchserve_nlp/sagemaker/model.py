"""The model to serve: found by name, checked to be a trained sequence classifier, and
staged for archiving with its tokenizer.

A base encoder would be served with a randomly initialised head whose answers mean nothing,
so ``classifier_labels`` refuses any model whose weights lack a trained head before anything
is built. transformers is imported only by the functions that load the model or tokenizer.
"""

import json
import shutil
from pathlib import Path

from torchserve_nlp.archive.model_source import (
    ModelSourceError,
    cached_snapshot,
    is_packaged_name,
    resolve_model_source,
)
from torchserve_nlp.data.offline_assets import minilm_dir
from torchserve_nlp.file_names import INDEX_TO_NAME, METRICS_FILE
from torchserve_nlp.sagemaker.settings import ServeConfigError

WEIGHTS = "model.safetensors"
CONFIG_JSON = "config.json"
TOKENIZER_JSON = "tokenizer.json"
# Copied beside the weights when the model directory has them (the handler reads the first).
EXTRA_MODEL_FILES = (INDEX_TO_NAME, METRICS_FILE)


def resolve_local_model(name: str) -> Path:
    """HUB_MODEL_NAME's directory, resolved as setup_config's model_name is."""
    try:
        return resolve_model_source(name).path
    except ModelSourceError as error:
        raise ServeConfigError("HUB_MODEL_NAME", str(error)) from error


def resolve_tokenizer(name: str | None, model_dir: Path) -> Path:
    """TOKENIZER's directory (a directory, a packaged name or a cached hub snapshot); the
    model's own directory when TOKENIZER is unset."""
    if name is None:
        return model_dir
    local = Path(name).expanduser()
    if local.is_dir():
        return local
    if is_packaged_name(name):
        return minilm_dir()
    snapshot = cached_snapshot(name)
    if snapshot is not None:
        return snapshot
    raise ServeConfigError(
        "TOKENIZER",
        f"{name!r} is not a directory, not a packaged model name and not in the local "
        "Hugging Face cache (nothing can be downloaded); unset it to use the model's tokenizer",
    )


def classifier_labels(model_dir: Path, variable: str, name: str) -> dict[str, str]:
    """config.json's id2label, once the weights are known to hold a trained
    sequence-classification head; otherwise ServeConfigError (a random head is useless)."""
    try:
        config = json.loads((model_dir / CONFIG_JSON).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ServeConfigError(variable, f"{name!r}: {CONFIG_JSON} is not JSON: {error}") from error
    if not isinstance(config, dict):
        raise ServeConfigError(variable, f"{name!r}: {CONFIG_JSON} is not a JSON object")
    architectures = config.get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        raise ServeConfigError(
            variable,
            f"{name!r} is not a sequence classifier (architectures {architectures}): a base "
            "encoder would be served with a randomly initialised head, whose answers are "
            "meaningless. Fine-tune it first (e.g. scripts/train_sentiment.py) and serve the "
            "fine-tuned save_pretrained directory",
        )
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        raise ServeConfigError(
            variable,
            f"{name!r}: {CONFIG_JSON} has no id2label; set model.config.id2label to the label "
            "names and save_pretrained again",
        )
    if not (model_dir / WEIGHTS).is_file():
        raise ServeConfigError(
            variable, f"{name!r}: no {WEIGHTS} (sharded weights are not archived; save with a "
            "larger max_shard_size)",
        )
    try:
        missing = missing_head_weights(model_dir)
    except (OSError, ValueError, RuntimeError) as error:
        raise ServeConfigError(
            variable, f"{name!r} does not load as a sequence classifier: {error}"
        ) from error
    if missing:
        raise ServeConfigError(
            variable,
            f"{name!r}: {WEIGHTS} lacks the classification head ({', '.join(missing)}), so it "
            "would be randomly initialised; serve a fine-tuned classifier",
        )
    return {str(k): str(v) for k, v in id2label.items()}


def missing_head_weights(model_dir: Path) -> list[str]:
    """Weights AutoModelForSequenceClassification would have to initialise randomly."""
    from transformers import AutoModelForSequenceClassification

    model, info = AutoModelForSequenceClassification.from_pretrained(
        model_dir, use_safetensors=True, local_files_only=True, output_loading_info=True
    )
    del model
    return sorted([*info["missing_keys"], *(k for k, *_ in info["mismatched_keys"])])


def stage_pretrained(model_dir: Path, tokenizer_dir: Path, out: Path) -> bool:
    """The directory ``archive`` packs: the weights (linked), config.json, the tokenizer
    re-saved with tokenizer.json, and any label map or metrics. Returns ``do_lower_case``."""
    from transformers import AutoTokenizer

    out.mkdir(parents=True)
    (out / WEIGHTS).symlink_to((model_dir / WEIGHTS).resolve())
    for name in (CONFIG_JSON, *EXTRA_MODEL_FILES):
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, out / name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ServeConfigError(
            "TOKENIZER", f"no tokenizer loads from {tokenizer_dir} (set TOKENIZER to a "
            f"tokenizer directory or name if the model has none): {error}"
        ) from error
    # transformers 5 builds an empty-vocabulary tokenizer from a directory without any.
    vocab_files = sorted(set(tokenizer.vocab_files_names.values()))
    if not any((tokenizer_dir / name).is_file() for name in vocab_files):
        raise ServeConfigError(
            "TOKENIZER", f"{tokenizer_dir} has no tokenizer vocabulary ({' or '.join(vocab_files)}"
            "); set TOKENIZER to the model's tokenizer",
        )
    tokenizer.save_pretrained(out)
    if not (out / TOKENIZER_JSON).is_file():
        raise ServeConfigError(
            "TOKENIZER", f"{tokenizer_dir} holds a slow tokenizer only; give one with "
            f"{TOKENIZER_JSON}",
        )
    # The handler passes do_lower_case to the tokenizer: it must be the tokenizer's own.
    return bool(getattr(tokenizer, "do_lower_case", True))
