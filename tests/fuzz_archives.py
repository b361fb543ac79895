"""One tiny archive of every default kind, built by the real archive code, for the fuzz tests.

The six kinds of the Makefile's ``archives`` target, each with a small random model (seeded)
instead of a trained one, packaged the way ``make archives`` packages the real one:

* ``scriptable_tokenizer``: the TorchScript WordPiece tokenizer scripted with a tiny BERT
  encoder, archived by scripts/archive_scriptable_tokenizer.py;
* ``BERTSeqClassification`` and ``BERTSeqClassification_Torchscript``: a tiny BERT
  classifier, pretrained and traced (scripts/archive_sequence_classifier.py);
* ``BERTTokenClassification`` and ``BERTQuestionAnswering``: tests/ner_models.py's and
  tests/qa_models.py's random models (scripts/archive_{token_classifier,question_answering}.py);
* ``embeddingbag_text_classifier``: the EmbeddingBag example, packaged with ``package_model``.

Random weights are scaled so that answers differ from text to text by far more than the
1e-5 a batch's padding may move them. Also: the property every fuzzed request must have
(``assert_answered_alike``) and the float-tolerant comparison it uses.
"""

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

from scripts import archive_question_answering as qa_archive
from scripts import archive_scriptable_tokenizer as scripted_archive
from scripts import archive_sequence_classifier as seq_archive
from scripts import archive_token_classifier as ner_archive
from tests.ner_models import save_tiny_ner
from tests.qa_models import random_qa_model
from tests.tiny_handlers import CLASSIFIER_LABELS, write_setup
from torchserve_nlp.archive.packaging import package_model
from torchserve_nlp.data.offline_assets import minilm_dir
from torchserve_nlp.training.embeddingbag_training import MODEL_FILE, load_example_module

SCRIPTED = "scriptable_tokenizer"
SEQUENCE = seq_archive.NAME
TRACED = seq_archive.TORCHSCRIPT_NAME
NER = ner_archive.NAME
QA = qa_archive.NAME
EMBEDDINGBAG = "embeddingbag_text_classifier"
KINDS = (SCRIPTED, SEQUENCE, TRACED, NER, QA, EMBEDDINGBAG)
# Windows small enough that a few sentences need several, and a long text more than allowed.
MAX_LENGTH, DOC_STRIDE, MAX_WINDOWS = 32, 8, 4
QA_MAX_LENGTH = 48
EMBEDDINGBAG_LABELS = ["negative", "neutral", "positive"]
EMBEDDINGBAG_VOCAB = (
    "<unk> . , ! ? ' i you it the a is was not and love hate great awful good bad movie day "
    "food service happy sad café zürich ann bob paris met in on"
).split()
ERROR_TYPES = {400: "BadRequest", 500: "InternalServerError"}
TOLERANCE = 1e-5


def _tiny_bert_classifier(out: Path) -> Path:
    """A random two-label BERT classifier (Negative, Positive) with a wide weight spread."""
    torch.manual_seed(0)
    tokenizer = BertTokenizerFast(vocab=str(minilm_dir() / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=MAX_LENGTH * 2,
        initializer_range=0.5, attn_implementation="eager",
        id2label=dict(enumerate(CLASSIFIER_LABELS)),
        label2id={label: i for i, label in enumerate(CLASSIFIER_LABELS)},
    )
    out.mkdir(parents=True, exist_ok=True)
    BertForSequenceClassification(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return write_setup(out, model_name="tiny-classifier", mode="sequence_classification",
                       max_length=MAX_LENGTH * 2)


def _scripted_build_dir(pretrained: Path, out: Path) -> Path:
    """model_jit.pt (scripted tokenizer + traced encoder of ``pretrained``) and metrics.json,
    as scripts/script_tokenizer_and_model.py and training leave them."""
    from torchserve_nlp.tokenizer.scriptable_tokenizer import ScriptableBertTokenizer
    from torchserve_nlp.tokenizer.scripted_classifier import LogitsOnly, TextClassifier

    out.mkdir(parents=True, exist_ok=True)
    tokenizer = ScriptableBertTokenizer.from_vocab_file(
        minilm_dir() / "vocab.txt", lowercase=True, max_length=MAX_LENGTH * 2
    )
    model = BertForSequenceClassification.from_pretrained(pretrained).eval()
    example = tokenizer(["an example to trace", "and a second, longer one"])
    with torch.no_grad():
        encoder = torch.jit.trace(LogitsOnly(model), example, check_trace=False)
    scripted = torch.jit.script(TextClassifier(torch.jit.script(tokenizer), encoder))
    torch.jit.save(scripted, str(out / "model_jit.pt"))
    (out / "metrics.json").write_text(json.dumps({"accuracy": 0.5}))
    return out


def _embeddingbag(root: Path, store: Path) -> Path:
    example = load_example_module()
    root.mkdir(parents=True, exist_ok=True)
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(EMBEDDINGBAG_VOCAB) + "\n", encoding="utf-8")
    torch.manual_seed(0)
    model = example.EmbeddingBagTextClassifier(str(vocab), 8, EMBEDDINGBAG_LABELS).eval()
    with torch.no_grad():
        model.embedding.weight.mul_(5.0)
    return package_model(EMBEDDINGBAG, model, MODEL_FILE, store, extra_files=[vocab],
                         sample_input="i love it")


def build_fuzz_archives(root: Path) -> dict[str, Path]:
    """Archive name -> .mar path, all written under ``root``."""
    store = root / "model_store"
    classifier = _tiny_bert_classifier(root / "sentiment" / seq_archive.PRETRAINED)
    seq_setup = classifier / "setup_config.json"
    ner = save_tiny_ner(root / "ner", model_name="tiny-ner", mode="token_classification",
                        max_length=MAX_LENGTH, doc_stride=DOC_STRIDE, max_windows=MAX_WINDOWS)
    qa = random_qa_model(root / "qa", max_length=QA_MAX_LENGTH, doc_stride=DOC_STRIDE * 2,
                         max_windows=MAX_WINDOWS)
    return {
        SCRIPTED: scripted_archive.archive(
            _scripted_build_dir(classifier, root / "scripted"), store),
        SEQUENCE: seq_archive.archive(classifier.parent, store, setup_config=seq_setup),
        TRACED: seq_archive.archive_torchscript(classifier.parent, store, setup_config=seq_setup),
        NER: ner_archive.archive(ner, store, setup_config=ner / "setup_config.json"),
        QA: qa_archive.archive(qa, store, setup_config=qa / "setup_config.json"),
        EMBEDDINGBAG: _embeddingbag(root / "embeddingbag", store),
    }


def with_batching(mar: Path, out_dir: Path, batch_size: int, delay_ms: int) -> Path:
    """A copy of ``mar`` in ``out_dir`` whose model-config.yaml batches as asked (so that
    concurrent requests reliably share a batch on a busy machine)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / mar.name
    with zipfile.ZipFile(mar) as source, zipfile.ZipFile(target, "w") as copy:
        config_file = json.loads(source.read("MAR-INF/MANIFEST.json"))["model"]["configFile"]
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == config_file:
                data = (
                    f"minWorkers: 1\nmaxWorkers: 1\nbatchSize: {batch_size}\n"
                    f"maxBatchDelay: {delay_ms}\nresponseTimeout: 120\n"
                ).encode()
            copy.writestr(entry, data)
    return target


def assert_same(got: Any, want: Any, where: str = "") -> None:
    """Equal, floats to ``TOLERANCE`` (a batch pads a request to its neighbours' length)."""
    if isinstance(want, float) and isinstance(got, (int, float)):
        assert math.isclose(got, want, abs_tol=TOLERANCE), (where, got, want)
    elif isinstance(want, dict) and isinstance(got, dict):
        assert list(got) == list(want), (where, got, want)
        for key in want:
            assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list) and isinstance(got, list):
        assert len(got) == len(want), (where, got, want)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    else:
        assert got == want, (where, got, want)


def assert_error(status: int, payload: Any, where: str = "") -> None:
    """A refusal: 4xx, JSON ``{"code", "type", "message"}`` agreeing with the status, or, for a
    KServe v1/v2 body (nlp_runtime.wire.kserve), the protocol's ``{"error": message}``."""
    assert 400 <= status < 500, (where, status, payload)
    if isinstance(payload, dict) and set(payload) == {"error"}:
        assert isinstance(payload["error"], str) and payload["error"], (where, payload)
        return
    assert isinstance(payload, dict) and set(payload) == {"code", "type", "message"}, (
        where, payload)
    assert payload["code"] == status, (where, payload)
    assert payload["type"] == ERROR_TYPES.get(status, "ClientError"), (where, payload)
    assert isinstance(payload["message"], str) and payload["message"], (where, payload)


def assert_answered_alike(status: int, payload: Any, solo: tuple[int, Any], where: str) -> None:
    """A request's answer in a batch: 200 or a 4xx JSON error, and the same as alone."""
    if status != 200:
        assert_error(status, payload, where)
    assert status == solo[0], (where, "batch", status, payload, "alone", solo)
    assert_same(payload, solo[1], where)
