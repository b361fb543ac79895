"""The handlers' batch metrics on the real TorchServe's Prometheus endpoint.

One TorchServe, started from the repository's config.properties (so with its metrics config),
serves a tiny sequence classifier and a tiny question-answering model, each batching up to 8
requests. Concurrent requests, some of them bad, are sent to both; then ``/metrics`` is
scraped. Every figure is checked against what the test knows without the handler: the batches
TorchServe itself reports (``RunningServer.batches_of``), the statuses it answered, and the
tokens and windows the archived tokenizer makes of the texts sent.
"""

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from transformers import AutoTokenizer

from scripts import archive_question_answering as qa_archive
from scripts import archive_sequence_classifier as seq_archive
from tests.fuzz_archives import with_batching
from tests.tiny_pair import tiny_seq_and_qa
from tests.torchserve_process import RunningServer, torchserve

pytestmark = pytest.mark.integration
BATCH_SIZE, BATCH_DELAY_MS = 8, 300
QA_MAX_LENGTH, QA_STRIDE, QA_MAX_WINDOWS = 48, 16, 4
SEQ, QA = seq_archive.NAME, qa_archive.NAME
# One sample line of the Prometheus text format: name{labels} value
SAMPLE = re.compile(r"^(?P<name>\w+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

TEXTS = [
    "fine",
    "I love this movie",
    "the service was slow and the food arrived cold",
    "a calm and quiet afternoon by the lake with a good book and tea",
    "no",
    "Ann met Bob in Paris",
]
BAD_TEXT = b"\xff\xfe not utf-8"
CONTEXT = "Ann met Bob in Zurich, near the lake. They talked about the weather all day."
QUESTIONS = [
    ("Where did Ann meet Bob?", CONTEXT),
    ("Who met Bob?", CONTEXT + " " + CONTEXT + " " + CONTEXT),  # several windows
    ("What?", "Bob."),
]
TOO_LONG = ("Where?", " ".join([CONTEXT] * 12))  # more than QA_MAX_WINDOWS windows


@dataclass(frozen=True)
class Served:
    server: RunningServer
    seq_dir: Path
    qa_dir: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Served:
    root = tmp_path_factory.mktemp("metrics")
    pair = tiny_seq_and_qa(root, max_length=QA_MAX_LENGTH, doc_stride=QA_STRIDE,
                           max_windows=QA_MAX_WINDOWS)
    store = root / "model_store"
    for mar in (pair.seq_mar, pair.qa_mar):
        with_batching(mar, store, BATCH_SIZE, BATCH_DELAY_MS)
    models = [f"{SEQ}={pair.seq_mar.name}", f"{QA}={pair.qa_mar.name}"]
    with torchserve(store, models, root / "ts") as server:
        yield Served(server, pair.seq_dir, pair.qa_dir)


def scrape(server: RunningServer) -> list[tuple[str, dict[str, str], float]]:
    response = requests.get(f"{server.metrics_url}/metrics", timeout=30)
    response.raise_for_status()
    samples = []
    for line in response.text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = dict(LABEL.findall(match["labels"] or ""))
            samples.append((match["name"], labels, float(match["value"])))
    return samples


def value(samples, name: str, model: str, **labels: str) -> float:
    """The one sample ``name`` of ``model`` with ``labels`` (0 if there is none)."""
    found = [v for n, lab, v in samples
             if n == name and lab.get("ModelName") == model and labels.items() <= lab.items()]
    assert len(found) <= 1, (name, model, labels, found)
    return found[0] if found else 0.0


def send_together(server: RunningServer, model: str, bodies: list[tuple[bytes, str]]):
    def post(body: tuple[bytes, str]) -> requests.Response:
        data, content_type = body
        return server.predict(model, data=data, headers={"Content-Type": content_type})

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, bodies))


def qa_body(question: str, context: str) -> tuple[bytes, str]:
    return json.dumps({"question": question, "context": context}).encode(), "application/json"


def test_nothing_is_reported_before_any_request(served):
    samples = scrape(served.server)
    for model in (SEQ, QA):
        assert value(samples, "BatchSize_count", model) == 0
        assert value(samples, "RealTokens", model) == 0


def test_sequence_classification_batches_tokens_and_refusals(served):
    server = served.server
    bodies = [(text.encode(), "text/plain") for text in TEXTS] + [(BAD_TEXT, "text/plain")]
    responses = send_together(server, SEQ, bodies)
    assert [r.status_code for r in responses] == [200] * len(TEXTS) + [400]
    batches = server.batches_of(responses)
    assert sum(map(len, batches)) == len(bodies)

    tokenizer = AutoTokenizer.from_pretrained(served.seq_dir)
    length = {text.encode(): len(tokenizer(text)["input_ids"]) for text in TEXTS}
    samples = scrape(server)
    assert value(samples, "BatchSize_count", SEQ) == len(batches)
    assert value(samples, "BatchSize_sum", SEQ) == len(bodies)
    assert value(samples, "RequestsRefused", SEQ, Status="400") == 1
    assert value(samples, "RealTokens", SEQ) == sum(length.values())
    # The grouping is the handler's; these bounds are not: every good row alone, or every
    # good row of a batch padded to the batch's longest.
    lengths = [[length[r.request.body] for r in batch if r.status_code == 200]
               for batch in batches]
    padded = value(samples, "PaddedTokens", SEQ)
    assert sum(length.values()) <= padded <= sum(len(b) * max(b) for b in lengths if b)
    forwards = value(samples, "ForwardsPerBatch_sum", SEQ)
    assert sum(1 for b in lengths if b) <= forwards <= len(TEXTS)
    assert value(samples, "ForwardsPerBatch_count", SEQ) == sum(1 for b in lengths if b)
    assert value(samples, "WindowsPerRequest_count", SEQ) == 0
    # Labels are the declared ones, and TorchServe's Hostname.
    [labels] = [lab for n, lab, _ in samples if n.startswith("RequestsRefused")
                and lab.get("ModelName") == SEQ]
    assert set(labels) == {"ModelName", "Level", "Status", "Hostname"}
    assert labels["Level"] == "Model"


def test_question_answering_windows_tokens_and_refusals(served):
    server = served.server
    bad_json = (b"{", "application/json")
    bodies = [qa_body(q, c) for q, c in QUESTIONS] + [qa_body(*TOO_LONG), bad_json]
    responses = send_together(server, QA, bodies)
    assert [r.status_code for r in responses] == [200] * len(QUESTIONS) + [413, 400]
    batches = server.batches_of(responses)

    tokenizer = AutoTokenizer.from_pretrained(served.qa_dir)
    windows = [
        tokenizer(q, c, truncation="only_second", max_length=QA_MAX_LENGTH, stride=QA_STRIDE,
                  return_overflowing_tokens=True)["input_ids"]
        for q, c in [*QUESTIONS, TOO_LONG]
    ]
    counts = [len(w) for w in windows]
    assert counts[1] > 1 and counts[-1] > QA_MAX_WINDOWS  # the texts do what they are for
    served_tokens = sum(len(ids) for request in windows[:-1] for ids in request)

    samples = scrape(server)
    assert value(samples, "BatchSize_count", QA) == len(batches)
    assert value(samples, "BatchSize_sum", QA) == len(bodies)
    assert value(samples, "WindowsPerRequest_count", QA) == len(counts)
    assert value(samples, "WindowsPerRequest_sum", QA) == sum(counts)
    assert value(samples, "RealTokens", QA) == served_tokens  # the refused text's are not run
    assert value(samples, "PaddedTokens", QA) >= served_tokens
    assert value(samples, "RequestsRefused", QA, Status="413") == 1
    assert value(samples, "RequestsRefused", QA, Status="400") == 1
    # The sequence classifier's figures stay its own.
    assert value(samples, "BatchSize_sum", SEQ) in (0, len(TEXTS) + 1)
