"""Issue 13, part 3: KServe's storage path end to end, all on this machine.

The layout of two archives is written by the documented command (``scripts/kserve_layout.py``,
mount where the storage initializer puts it), uploaded to a moto S3 server on loopback, fetched
from its ``s3://`` URI by the ``kserve-storage`` package's downloader (what KServe's storage
initializer runs for ``storageUri``, with the environment it gets), then served by TorchServe
started with the runtime's own arguments (``torchserve_nlp.deploy.container``; only the
listeners moved to free loopback ports). v1 and v2 requests must be answered as
``/predictions`` answers the same texts.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import pytest
import requests
from kserve import InferInput, InferRequest, InferResponse

from scripts import archive_question_answering as qa_archive
from scripts import archive_sequence_classifier as seq_archive
from tests.loopback_s3 import loopback_s3, s3_client
from tests.tiny_pair import tiny_seq_and_qa
from tests.unit.test_request_errors import assert_same
from torchserve_nlp.deploy import container
from torchserve_nlp.serving.torchserve import (
    address,
    executable,
    free_port,
    stop,
    wait_until_ready,
    write_config,
)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
BUCKET, PREFIX = "models", "torchserve-nlp/layout"
SEQ, QA = seq_archive.NAME, qa_archive.NAME
TEXTS = ["I loved it", "awful, never again", "Café naïve 😀"]
QUESTIONS = [("Who met Bob?", "Ann met Bob in Zurich."), ("Where?", "In Zurich, by the lake.")]


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    with loopback_s3() as env:
        yield env


def archives(work: Path) -> list[Path]:
    pair = tiny_seq_and_qa(work, max_length=48, doc_stride=16)
    return [pair.seq_mar, pair.qa_mar]


def upload(layout: Path, env: dict[str, str]) -> None:
    client = s3_client(env)
    client.create_bucket(Bucket=BUCKET)
    for path in sorted(p for p in layout.rglob("*") if p.is_file()):
        client.upload_file(str(path), BUCKET, f"{PREFIX}/{path.relative_to(layout).as_posix()}")


def storage_initializer(uri: str, mount: Path, env: dict[str, str]) -> None:
    """What KServe's storage-initializer container runs: ``Storage.download(uri, dest)``."""
    script = "import sys; from kserve_storage import Storage; Storage.download(*sys.argv[1:])"
    subprocess.run([sys.executable, "-c", script, uri, str(mount)], check=True, timeout=300,
                   env={**os.environ, **env})


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_through_s3_and_kserve_storage_serves_v1_and_v2(tmp_path, s3):
    mount = tmp_path / "mnt" / "models"  # the emptyDir the storage initializer fills
    layout = tmp_path / "layout"
    seq_mar, qa_mar = archives(tmp_path / "work")
    subprocess.run([sys.executable, "scripts/kserve_layout.py", str(layout), str(seq_mar),
                    f"{qa_mar}:batch_size=4,max_batch_delay=200", "--mount", str(mount),
                    "--metrics-config", "artifacts/torchserve_metrics.yaml"],
                   cwd=REPO, check=True, timeout=120)
    upload(layout, s3)
    storage_initializer(f"s3://{BUCKET}/{PREFIX}", mount, s3)
    assert files(mount) == files(layout) and "model-store/BERTSeqClassification.mar" in files(mount)

    ports = [free_port() for _ in range(3)]
    config = Path(str(container.config_path(PurePosixPath(mount))))
    write_config(config, {
        "inference_address": address(ports[0]), "management_address": address(ports[1]),
        "metrics_address": address(ports[2]), "grpc_inference_port": free_port(),
        "grpc_management_port": free_port(), "initial_worker_port": free_port(),
    }, base=config)
    work = tmp_path / "run"
    work.mkdir()
    args = container.torchserve_args(PurePosixPath(mount))
    env = {**os.environ, "LOG_LOCATION": str(work / "logs"),
           "METRICS_LOCATION": str(work / "logs")}
    with open(work / "torchserve.out", "wb") as output:
        process = subprocess.Popen([str(executable("torchserve")), *args[1:]], cwd=work,
                                   env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            wait_until_ready(address(ports[1]), 180, [SEQ, QA], process)
            check_answers(address(ports[0]))
        finally:
            stop(process, 20)


def check_answers(url: str) -> None:
    assert requests.get(f"{url}{container.READY_PATH}", timeout=30).status_code == 200
    texts = InferRequest(SEQ, [InferInput("text", [len(TEXTS)], "BYTES", TEXTS)],
                         request_id="storage")
    pairs = InferRequest(QA, [
        InferInput("question", [2], "BYTES", [q for q, _ in QUESTIONS]),
        InferInput("context", [2], "BYTES", [c for _, c in QUESTIONS]),
    ])
    posts = [
        (f"/v2/models/{SEQ}/infer", texts.to_rest()[0]),
        (f"/v2/models/{QA}/infer", pairs.to_rest()[0]),
        (f"/v1/models/{SEQ}:predict", {"instances": TEXTS}),
    ]
    with ThreadPoolExecutor(len(posts)) as pool:
        responses = list(pool.map(
            lambda post: requests.post(url + post[0], json=post[1], timeout=120), posts))
    assert [r.status_code for r in responses] == [200, 200, 200], [r.text for r in responses]
    solo_texts = [requests.post(f"{url}/predictions/{SEQ}", json={"data": t}, timeout=60).json()
                  for t in TEXTS]
    solo_pairs = [requests.post(f"{url}/predictions/{QA}", timeout=60,
                                json={"question": q, "context": c}).json()
                  for q, c in QUESTIONS]
    by_texts = InferResponse.from_rest(responses[0].json())
    assert by_texts.id == "storage"
    assert_same([json.loads(d) for d in by_texts.outputs[0].data], solo_texts)
    by_pairs = InferResponse.from_rest(responses[1].json())
    assert_same([json.loads(d) for d in by_pairs.outputs[0].data], solo_pairs)
    assert_same(responses[2].json()["predictions"], solo_texts)
