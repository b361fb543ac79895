"""The traced token-classification archive answers what the pretrained one does.

Both archives are built by scripts/archive_token_classifier.py from a tiny seeded BERT token
classifier and run in-process through TorchServe's own loader (LocalArchive).
"""

import json
import zipfile
from pathlib import Path

import pytest
import torch
from transformers import BertForTokenClassification, BertTokenizerFast

from scripts.archive_token_classifier import TRACED_FILE, archive, archive_torchscript
from tests.forward_shapes import assert_grouped_by_length, forward_shapes
from tests.ner_models import save_tiny_ner
from tests.oracles import assert_same_entities
from torchserve_nlp.archive.tracing import TRACE_TEXTS
from torchserve_nlp.serving.local_archive import LocalArchive, LocalRequest

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
STRATEGIES = ["none", "simple", "first", "average", "max"]
MODES = ("pretrained", "torchscript")
MAX_LENGTH = 128  # artifacts/token_classification/setup_config*.json
LONG_TEXT = " ".join(
    [
        "Yesterday Giannis Antetokounmpo visited Thessaloniki and Constantinople.",
        "Later, representatives of Hewlett-Packard and Volkswagen met in Düsseldorf.",
        "The Rijksmuseum in Amsterdam lent Vermeer paintings to Kunsthistorisches Wien.",
        "Finally, Ngozi Okonjo-Iweala spoke at the WTO headquarters in Geneva.",
    ]
    * 5
)
TEXTS = [
    "Satya Nadella flew from Reykjavik to Kathmandu with Volkswagen engineers.",
    "hi",
    LONG_TEXT,
    "Café naïve résumé in Zürich 中文 😀 with Schwarzenegger and Kubernetes.",
    "@elonmusk Microsoft's #AI folks met Tsitsipas at Wimbledon!",
]
ALONE = TEXTS[3]  # a batch of one request, one window


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    return save_tiny_ner(tmp_path_factory.mktemp("tiny_ner"), MAX_LENGTH)


@pytest.fixture(scope="module")
def stores(build_dir, tmp_path_factory) -> dict[str, Path]:
    store = tmp_path_factory.mktemp("store")
    return {
        "pretrained": archive(build_dir, store),
        "torchscript": archive_torchscript(build_dir, store),
    }


def request(text: str, strategy: str) -> LocalRequest:
    return LocalRequest({"inputs": text, "parameters": {"aggregation_strategy": strategy}})


def payloads(archive_: LocalArchive, requests: list[LocalRequest]) -> list:
    responses = archive_.handle(requests)
    assert [r.status for r in responses] == [200] * len(requests), responses
    return [r.payload for r in responses]


@pytest.fixture(scope="module")
def served(stores, tmp_path_factory) -> dict[str, dict]:
    """Per mode: per strategy the batch of TEXTS and ALONE as a batch of one, and the
    shapes of the model's forwards meanwhile. Each archive is opened once, then closed."""
    results = {}
    for mode, mar in stores.items():
        with LocalArchive.open(
            mar, tmp_path_factory.mktemp(mode), batch_size=len(TEXTS)
        ) as opened, forward_shapes(opened) as shapes:
            batches = {s: payloads(opened, [request(t, s) for t in TEXTS]) for s in STRATEGIES}
            alone = {s: payloads(opened, [request(ALONE, s)])[0] for s in STRATEGIES}
        results[mode] = {"batches": batches, "alone": alone, "forwards": shapes}
    return results


def window_lengths(texts: list[str], build_dir: Path) -> list[int]:
    """Tokens of every window of ``texts``, as the handler splits them."""
    tokenizer = BertTokenizerFast.from_pretrained(build_dir)
    encoded = tokenizer(
        texts, truncation=True, max_length=MAX_LENGTH, stride=32, return_overflowing_tokens=True
    )
    return [len(ids) for ids in encoded["input_ids"]]


def windows_of(text: str, build_dir: Path) -> int:
    tokenizer = BertTokenizerFast.from_pretrained(build_dir)
    encoded = tokenizer(
        text, truncation=True, max_length=MAX_LENGTH, stride=32, return_overflowing_tokens=True
    )
    return len(encoded["input_ids"])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_torchscript_archive_gives_the_pretrained_entities(served, strategy):
    for batch_or_alone in ("batches", "alone"):
        got = served["torchscript"][batch_or_alone][strategy]
        want = served["pretrained"][batch_or_alone][strategy]
        if batch_or_alone == "alone":
            got, want = [got], [want]
        for text_got, text_want in zip(got, want, strict=True):
            assert_same_entities(text_got, text_want)


def test_the_comparison_covers_entities_windows_and_untraced_shapes(served, build_dir):
    """Guards the parity test: there are entities, strategies disagree, the long text needs
    several windows whose entities reach its end, and no forward has the traced shape."""
    pretrained = served["pretrained"]["batches"]
    assert all(pretrained["simple"][i] for i in (0, 2, 3, 4))
    assert len({json.dumps(pretrained[s]) for s in STRATEGIES}) >= 4
    windows = windows_of(LONG_TEXT, build_dir)
    assert windows >= 3
    assert pretrained["simple"][2][-1]["end"] > len(LONG_TEXT) - 20  # nothing truncated
    assert served["pretrained"]["alone"]["none"] == pretrained["none"][3]
    trace_shape = tuple(BertTokenizerFast.from_pretrained(build_dir)(
        TRACE_TEXTS, padding="longest", return_tensors="pt"
    )["input_ids"].shape)
    lengths = window_lengths(TEXTS, build_dir)
    assert len(lengths) == len(TEXTS) - 1 + windows
    for mode in MODES:
        forwards = served[mode]["forwards"]
        per_batch = (len(forwards) - len(STRATEGIES)) // len(STRATEGIES)
        batches, alone = forwards[: -len(STRATEGIES)], forwards[-len(STRATEGIES):]
        for s in range(len(STRATEGIES)):
            assert_grouped_by_length(batches[s * per_batch:(s + 1) * per_batch], lengths)
        assert all(rows == 1 for rows, _ in alone), forwards
        assert trace_shape not in forwards


def test_torchscript_archive_holds_the_trace_not_the_weights(stores):
    with zipfile.ZipFile(stores["torchscript"]) as mar:
        names = set(mar.namelist())
        setup = json.loads(mar.read("setup_config.json"))
        manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))
    assert TRACED_FILE in names and "model.safetensors" not in names
    assert {"config.json", "tokenizer.json", "metrics.json", "nlp_runtime/hf/model.py"} <= names
    assert setup["save_mode"] == "torchscript"
    assert manifest["model"]["serializedFile"] == TRACED_FILE


@pytest.mark.parametrize(
    "texts",
    [
        ["one"],
        TEXTS[:3],
        [LONG_TEXT[: 40 * (i + 1)] for i in range(8)],
        [LONG_TEXT, LONG_TEXT[::-1]],
    ],
    ids=["1x3", "3xlong", "8xvaried", "2xmax_length"],
)
def test_archived_trace_equals_eager_logits(stores, build_dir, tmp_path, texts):
    with zipfile.ZipFile(stores["torchscript"]) as mar:
        mar.extract(TRACED_FILE, tmp_path)
    traced = torch.jit.load(str(tmp_path / TRACED_FILE), map_location="cpu").eval()
    eager = BertForTokenClassification.from_pretrained(build_dir).eval()
    tokenizer = BertTokenizerFast.from_pretrained(build_dir)
    encoded = tokenizer(
        texts, truncation=True, max_length=MAX_LENGTH, padding="longest", return_tensors="pt"
    )
    with torch.inference_mode():
        want = eager(**encoded).logits
        got = traced(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
    assert got.shape == want.shape == (len(texts), encoded["input_ids"].shape[1], len(LABELS))
    assert float((got - want).abs().max()) <= 1e-4
    assert float(want.std()) > 1.0  # the scaled classifier gives logits worth comparing
