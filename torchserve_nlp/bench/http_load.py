"""Closed-loop HTTP load: ``concurrency`` threads, each with its own keep-alive session, POST
text bodies until all are sent or the deadline passes."""

import itertools
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
from tqdm import tqdm

TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class HttpOutcome:
    """One request: its latency, and its status code or the exception's name."""

    latency_s: float
    outcome: int | str


@dataclass(frozen=True)
class HttpRun:
    outcomes: list[HttpOutcome]
    elapsed_s: float
    stopped_by_deadline: bool


def post_texts(
    url: str,
    texts: Sequence[str],
    concurrency: int,
    max_seconds: float,
    timeout_s: float,
    description: str = "HTTP",
    content_type: str = TEXT_CONTENT_TYPE,
) -> HttpRun:
    """POST each text once; no request starts after ``max_seconds``, so the run ends within
    ``max_seconds + timeout_s``."""
    deadline = time.monotonic() + max_seconds
    indices = itertools.count()
    lock = threading.Lock()
    outcomes: list[HttpOutcome] = []
    progress = tqdm(total=len(texts), desc=description, unit="req", disable=None, leave=False)

    def send_until_done() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                with lock:
                    index = next(indices)
                if index >= len(texts):
                    return
                outcome = post_one(session, url, texts[index], timeout_s, content_type)
                with lock:
                    outcomes.append(outcome)
                    progress.update()

    start = time.perf_counter()
    with progress, ThreadPoolExecutor(concurrency, thread_name_prefix="bench") as pool:
        for future in [pool.submit(send_until_done) for _ in range(concurrency)]:
            future.result()
    elapsed = time.perf_counter() - start
    return HttpRun(outcomes, elapsed, stopped_by_deadline=len(outcomes) < len(texts))


def post_one(
    session: requests.Session, url: str, text: str, timeout_s: float,
    content_type: str = TEXT_CONTENT_TYPE,
) -> HttpOutcome:
    start = time.perf_counter()
    try:
        response = session.post(
            url, data=text.encode("utf-8"), headers={"Content-Type": content_type},
            timeout=timeout_s,
        )
        response.content  # noqa: B018 - the latency includes reading the whole body
        outcome: int | str = response.status_code
    except requests.RequestException as error:
        outcome = type(error).__name__
    return HttpOutcome(time.perf_counter() - start, outcome)
