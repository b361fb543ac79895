"""Issue 11 through the real TorchServe: the battery, and a smaller fuzz run.

One TorchServe serves a tiny archive of every default kind (tests/fuzz_archives.py), each
batching up to 8 requests with a 300 ms ``maxBatchDelay`` so that concurrent requests share a
batch (``RunningServer.batches_of`` proves it from TorchServe's own metrics).

* The battery (tests/fuzz_battery.py): each named kind of malformed request is sent to its
  target archives concurrently with two good requests per archive; it must get its row's
  exact status (a JSON error, except where TorchServe's frontend answers), share a batch with
  good requests (three attempts at most: concurrent sends may miss each other), and leave
  them their answers alone.
* Fuzzing: Hypothesis batches (tests/fuzz_strategies.py) are sent concurrently over HTTP;
  each request must be answered exactly as the same archive answers it alone in-process
  (``LocalArchive``), 200 or a 4xx JSON error.
"""

import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings

from tests.fuzz_archives import (
    KINDS,
    NER,
    QA,
    assert_answered_alike,
    assert_error,
    build_fuzz_archives,
    with_batching,
)
from tests.fuzz_battery import BATTERY, Row, base_body
from tests.fuzz_strategies import FORM, OK, REFUSED, Sent, mixed_batches
from tests.fuzz_values import to_json
from tests.torchserve_process import REQUEST_ID, RunningServer, json_of, torchserve
from torchserve_nlp.serving.local_archive import LocalArchive

pytestmark = pytest.mark.integration
BATCH_SIZE, BATCH_DELAY_MS = 8, 300
FUZZ_EXAMPLES = 12  # batches per archive kind through TorchServe (the unit run has ~500)
WORKER_TIMEOUT = 180


@dataclass(frozen=True)
class Outcome:
    status: int | None  # None: no HTTP response could be read
    payload: Any
    response: requests.Response | None


def good_requests(kind: str) -> list[Sent]:
    if kind == QA:
        return [Sent("good", to_json(base_body(kind)), "application/json", OK),
                Sent("good", to_json({"inputs": {"question": "Where?", "context": "Ann met Bob "
                                      "in Zurich, near the lake."}, "parameters": {"top_k": 2}}),
                     "application/json", OK)]
    second = {"data": "I love this movie, Café 😀"}
    if kind == NER:
        second = {"inputs": "Ann met Bob in Paris.",
                  "parameters": {"aggregation_strategy": "first"}}
    return [Sent("good", b"a calm and quiet afternoon", "text/plain", OK),
            Sent("good", to_json(second), "application/json", OK)]


def send(server: RunningServer, kind: str, sent: Sent, row: Row | None = None) -> Outcome:
    endpoint = "explanations" if sent.explain_endpoint else "predictions"
    kwargs: dict[str, Any] = {"timeout": 120}
    if row is not None and row.multipart is not None:
        field, name, content, content_type = row.multipart
        kwargs["files"] = {field: (name, content, content_type)}
    elif sent.form_field is not None:  # curl -d 'field=value'; a valueless field as curl -d 'x'
        field = urllib.parse.quote(sent.form_field)
        valued = sent.body or sent.form_field == "data"
        value = f"={urllib.parse.quote(sent.body)}" if valued else ""
        kwargs.update(data=field + value, headers={"Content-Type": FORM})
    else:
        headers = {"Content-Type": sent.content_type} if sent.content_type else {}
        kwargs.update(data=sent.body, headers=headers)
    method = row.method if row is not None else "POST"
    try:
        response = requests.request(method, f"{server.inference_url}/{endpoint}/{kind}",
                                    **kwargs)
    except requests.RequestException as error:
        return Outcome(None, repr(error), None)
    return Outcome(response.status_code, json_of(response) if response.text else None, response)


def send_all(server: RunningServer, jobs: list[tuple[str, Sent, Row | None]]) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(lambda job: send(server, *job), jobs))


def wait_for_workers(server: RunningServer, kinds: tuple[str, ...] = KINDS) -> None:
    """Every model's worker READY (were one to die, TorchServe would restart it)."""
    deadline = time.monotonic() + WORKER_TIMEOUT
    while True:
        states = {k: [w["status"] for w in server.describe(k)[0]["workers"]] for k in kinds}
        if all(s and all(x == "READY" for x in s) for s in states.values()):
            return
        assert time.monotonic() < deadline, states
        time.sleep(1)


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    return build_fuzz_archives(tmp_path_factory.mktemp("fuzz_archives"))


@pytest.fixture(scope="module")
def server(archives, tmp_path_factory):
    store = tmp_path_factory.mktemp("model_store")
    for mar in archives.values():
        with_batching(mar, store, BATCH_SIZE, BATCH_DELAY_MS)
    models = [f"{kind}={kind}.mar" for kind in KINDS]
    with torchserve(store, models, tmp_path_factory.mktemp("ts")) as running:
        yield running


@pytest.fixture(scope="module")
def good_alone(server) -> dict[str, list[tuple[Sent, Outcome]]]:
    """Each archive's good requests, each answered alone (sent one at a time)."""
    answers = {}
    for kind in KINDS:
        answers[kind] = [(sent, send(server, kind, sent)) for sent in good_requests(kind)]
        assert all(outcome.status == 200 for _, outcome in answers[kind]), answers[kind]
    return answers


def test_the_battery_has_forty_kinds_or_more():
    names = [row.name for row in BATTERY]
    assert len(set(names)) == len(names) >= 40


# Concurrent sends are not bound to share a batch: on a busy machine a large body may reach
# the frontend after its batch-mates' batch has left. Every attempt's answers are checked;
# the row passes once each bad request has shared a batch with a good one.
SHARING_ATTEMPTS = 3


@pytest.mark.parametrize("row", [pytest.param(row, id=row.name) for row in BATTERY])
def test_battery(server, good_alone, row: Row):
    wait_for_workers(server)
    for _ in range(SHARING_ATTEMPTS):
        batched_alone = send_row(server, good_alone, row)
        if not batched_alone:
            return
    assert not batched_alone, (
        f"{row.name}: a bad request batched alone in each of {SHARING_ATTEMPTS} attempts"
    )


def send_row(server: RunningServer, good_alone, row: Row) -> set[str]:
    """Send ``row``'s request to each target with the good ones, check every answer, and
    return the ids of the bad requests that no good one shared a batch with."""
    jobs = []
    for kind in row.targets:
        jobs.append((kind, row.request(kind), row))
        jobs += [(kind, sent, None) for sent, _ in good_alone[kind]]
    outcomes = send_all(server, jobs)
    answered = list(zip(jobs, outcomes, strict=True))
    for (kind, sent, job_row), outcome in answered:  # the good ones first: their answer alone
        if job_row is None:
            alone = next(o for s, o in good_alone[kind] if s == sent)
            assert_answered_alike(outcome.status, outcome.payload,
                                  (alone.status, alone.payload), f"{row.name}: good -> {kind}")
    bad_ids = set()
    for (kind, _, job_row), outcome in answered:
        if job_row is None:
            continue
        where = f"{row.name} -> {kind}"
        assert outcome.status == row.status, (where, outcome.status, outcome.payload)
        if row.in_worker:
            assert_error(outcome.status, outcome.payload, where)
            bad_ids.add(outcome.response.headers[REQUEST_ID])
        else:  # TorchServe's frontend: no worker, no JSON
            assert outcome.payload is None and REQUEST_ID not in outcome.response.headers
    batched_alone: set[str] = set()
    if bad_ids:
        responses = [o.response for o in outcomes if o.response is not None
                     and REQUEST_ID in o.response.headers]
        for batch in server.batches_of(responses):
            ids = {response.headers[REQUEST_ID] for response in batch}
            if ids & bad_ids and not ids - bad_ids:
                batched_alone |= ids
            bad_ids -= ids
        assert not bad_ids, f"{row.name}: no batch found for {bad_ids}"
    return batched_alone


@pytest.mark.parametrize("kind", KINDS)
def test_fuzzed_batches_through_torchserve(server, archives, kind, tmp_path):
    wait_for_workers(server)
    seen: list[requests.Response] = []
    with LocalArchive.open(archives[kind], tmp_path) as local:
        @settings(
            max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.filter_too_much, HealthCheck.large_base_example],
        )
        @given(batch=mixed_batches(kind))
        def check(batch: list[Sent]) -> None:
            alone = {}
            for sent in batch:
                [response] = local.handle([sent.local()])
                alone[sent] = (response.status, response.payload)
            sendable = list(batch)
            outcomes = send_all(server, [(kind, sent, None) for sent in sendable])
            for sent, outcome in zip(sendable, outcomes, strict=True):
                where = f"{kind} over HTTP ({sent.what}): {sent!r:.300}"
                assert_answered_alike(outcome.status, outcome.payload, alone[sent], where)
                if sent.expect == REFUSED:
                    assert 400 <= outcome.status < 500, where
                seen.append(outcome.response)

        check()
    assert len(seen) >= FUZZ_EXAMPLES * 2
    assert max(map(len, server.batches_of(seen))) > 1
