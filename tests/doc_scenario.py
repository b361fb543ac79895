"""Documented commands run as a reader runs them: in one folder laid out like the repository
(links to .venv, handlers/, artifacts/, scripts/, torchserve_nlp/; config.properties and the
Makefile copied with free loopback ports), with ``.venv/bin`` first on PATH and TMPDIR private.

``Scenario.run_documents`` runs every command ``classify`` marks to run, from the given
documents: builds first (in document order), then each serve command with the waits and
requests that follow it in its document, and its documented stop if there is one (identical
serve commands of two documents run once). Servers on ports of their own (scripts/serve) run
alongside the ones on config.properties's ports, which run one after another. Every served
model answers one request, and every archive left in ``model_store/`` must have answered one
through a server started by a documented command. Servers are always stopped, their whole
process group killed if a stop fails.
"""

import json
import os
import shlex
import shutil
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import requests

from tests.doc_commands import (
    NO_RESPONSE,
    REPO_ROOT,
    Command,
    Kind,
    assert_documented_shape,
    classify,
    rewrite_ports,
    runnable,
)
from tests.doc_servers import DOCUMENTED, STEP_SECONDS, STOP_SECONDS, Server, serving
from torchserve_nlp.sagemaker.settings import PORT_VARIABLES
from torchserve_nlp.serving.torchserve import address, free_port, wait_group_gone, write_config

LINKED = (".venv", "handlers", "artifacts", "scripts", "torchserve_nlp", "pyproject.toml")
ENTRYPOINT_VARIABLES = ("LOCAL", "HUB_MODEL_NAME", "TOKENIZER", "SERVERLESS", "BUCKET_NAME",
                        "MODEL_PATH", "BIND_ALL", "SERVE_WORK_DIR", *PORT_VARIABLES.values())
PROBES = {  # handler entry file -> (content type, body) of the request a model answers
    "question_answering_handler.py": (
        "application/json", json.dumps({"question": "Where?", "context": "We met in Berlin."})),
}
TEXT_PROBE = ("text/plain", "This is a sentence")


@dataclass
class Segment:
    """A serve command (one run for identical ones), what follows it, its stop."""

    serve: list[Command]
    steps: list[Command] = field(default_factory=list)  # requests and waits, in order
    stop: Command | None = None


def plan(commands: list[Command]) -> tuple[list[Command], list[Segment]]:
    builds: list[Command] = []
    segments: dict[str, Segment] = {}
    current, document = None, None
    for command in commands:
        kind, _ = classify(command)
        current = current if command.document == document else None
        document = command.document
        if kind is Kind.LEFT_OUT:
            continue
        if kind in (Kind.BUILD, Kind.PUBLISH, Kind.ENVIRONMENT):
            builds.append(command)
        elif kind is Kind.SERVE:
            current = segments.setdefault(shlex.join(command.tokens), Segment([]))
            current.serve.append(command)
        else:
            assert current is not None, f"{command.key}: no serve command before it"
            if kind is Kind.STOP:
                current.stop, current = command, None
            else:
                current.steps.append(command)
    return builds, list(segments.values())


class Scenario:
    def __init__(self, root: Path, extra_env: dict[str, str] | None = None) -> None:
        self.root, self.ran, self.answered, self.steps = root, [], set(), count(1)
        self.ports = {DOCUMENTED.inference: free_port(), DOCUMENTED.management: free_port(),
                      DOCUMENTED.metrics: free_port()}
        for name in LINKED:
            (root / name).symlink_to(REPO_ROOT / name)
        (root / "Makefile").write_text(rewrite_ports((REPO_ROOT / "Makefile").read_text(),
                                                     self.ports))
        write_config(root / "config.properties", {
            **{f"{name}_address": address(self.ports[getattr(DOCUMENTED, name)])
               for name in ("inference", "management", "metrics")},
            "grpc_inference_port": free_port(), "grpc_management_port": free_port(),
            "initial_worker_port": free_port(),
        }, base=REPO_ROOT / "config.properties")
        (tmp := root / ".tmp").mkdir()
        (root / ".logs").mkdir()
        inherited = {k: v for k, v in os.environ.items()
                     if k not in (*ENTRYPOINT_VARIABLES, "PYTHONPATH", "VIRTUAL_ENV")}
        self.env = {**inherited, "PATH": f"{root / '.venv' / 'bin'}:{os.environ['PATH']}",
                    "VIRTUAL_ENV": str(root / ".venv"), "TMPDIR": str(tmp), "TEMP": str(tmp),
                    "HF_HUB_OFFLINE": "1", **(extra_env or {})}

    # ---------------------------------------------------------------------------- steps

    def log(self, name: str) -> Path:
        return self.root / ".logs" / f"{next(self.steps):02d}-{Path(name).name}.log"

    def run(self, argv: list[str], env: dict[str, str] | None = None, key: str = "") -> str:
        log = self.log(argv[0])
        with open(log, "wb") as out:
            code = subprocess.run(argv, cwd=self.root, env={**self.env, **(env or {})},
                                  stdout=out, stderr=subprocess.STDOUT,
                                  timeout=STEP_SECONDS).returncode
        text = log.read_text(errors="replace")
        assert code == 0, f"{key} `{shlex.join(argv)}` exited {code}:\n{text[-5000:]}"
        return text

    def run_documents(self, commands: list[Command]) -> None:
        builds, segments = plan(commands)
        for command in builds:
            if classify(command)[0] is Kind.ENVIRONMENT:  # every step's PATH starts with it
                assert (self.root / command.argv[1]).is_file(), command.key
            elif classify(command)[0] is Kind.PUBLISH and shutil.which("aws") is None:
                self.upload(*runnable(command.argv)[3:5])  # what `aws s3 cp` would do
            else:
                self.run(runnable(command.argv), command.env, command.key)
            self.ran.append(command.key)
        # Servers with ports of their own (scripts/serve) run alongside the others; those on
        # config.properties's ports (make serve, torchserve --start) one after another.
        own_ports = [s for s in segments if classify(s.serve[0])[1] == "entrypoint"]
        lanes = [[s for s in segments if s not in own_ports], *([s] for s in own_ports)]
        with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
            for lane in [pool.submit(self._serve_all, lane) for lane in lanes if lane]:
                lane.result()
        unanswered = {p.stem for p in self.root.glob("model_store/*.mar")} - self.answered
        assert not unanswered, f"archives no server answered with: {sorted(unanswered)}"

    # -------------------------------------------------------------------------- serving

    def _serve_all(self, segments: list[Segment]) -> None:
        for segment in segments:
            self.ran += [command.key for command in segment.serve]
            with serving(self, segment.serve[0]) as (server, group):
                reached = set()
                for command in segment.steps:
                    if classify(command)[0] is Kind.WAIT:
                        argv = [rewrite_ports(token, server.ports) for token in command.argv]
                        self.run(argv, command.env, command.key)
                        self.ran.append(command.key)
                    else:
                        reached |= self.request(command, server)
                for name in sorted(set(server.archives) - reached):
                    self.probe(name, server)
                if segment.stop is not None:
                    self.run(runnable(segment.stop.argv), segment.stop.env, segment.stop.key)
                    self.ran.append(segment.stop.key)
                    assert wait_group_gone(group, STOP_SECONDS), f"{segment.stop.key} left it"

    # ------------------------------------------------------------------------- requests

    def upload(self, source: str, destination: str) -> None:
        import boto3  # only without the AWS CLI

        bucket, key = destination.removeprefix("s3://").split("/", 1)
        client = boto3.client(
            "s3", endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name=self.env["AWS_DEFAULT_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )
        client.upload_file(str(self.root / source), bucket, key)

    def request(self, command: Command, server: Server) -> set[str]:
        """The documented curl with the server's ports: it must answer 200 with JSON of the
        documented response's shape. The models it reached."""
        body = self.root / ".logs" / f"{command.document}-{command.line}.json"
        argv = [rewrite_ports(token, server.ports) for token in runnable(command.argv)]
        result = subprocess.run([*argv, "-sS", "-o", str(body), "-w", "%{http_code}"],
                                cwd=self.root, env=self.env, capture_output=True, text=True,
                                timeout=STEP_SECONDS)
        answer = body.read_text(errors="replace") if body.exists() else ""
        assert (result.returncode, result.stdout) == (0, "200"), (
            f"{command.key}: curl {result.returncode}, HTTP {result.stdout}: {answer[:2000]}"
            f"{result.stderr}")
        payload = json.loads(answer)
        if command.response is not NO_RESPONSE:
            assert_documented_shape(command.response, payload, command.key)
        path = next(t for t in argv if t.startswith("http")).split("/", 3)[3].split("/")
        reached = {path[1]} if path[0] in ("predictions", "explanations") else set()
        if path[0] in ("v1", "v2") and path[1] == "models":  # KServe: /v1/models/<m>:predict
            reached.add(path[2].split(":")[0])
        reached |= set(server.archives) if path[0] == "invocations" else set()
        self.answered |= reached
        self.ran.append(command.key)
        return reached

    def probe(self, name: str, server: Server) -> None:
        """One request to a served model no documented request reached."""
        content_type, body = TEXT_PROBE
        archive = server.archives[name]
        if archive is not None:
            with zipfile.ZipFile(archive) as mar:
                handler = json.loads(mar.read("MAR-INF/MANIFEST.json"))["model"]["handler"]
            content_type, body = PROBES.get(Path(handler).name, TEXT_PROBE)
        response = requests.post(f"{server.inference_url}/predictions/{name}", data=body,
                                 headers={"Content-Type": content_type}, timeout=120)
        assert response.status_code == 200, f"{name}: {response.status_code} {response.text}"
        response.json()
        self.answered.add(name)
