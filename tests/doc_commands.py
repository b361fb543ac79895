"""The shell commands shown in README.md and docs/*.md, as the documented-command tests see
them: read from the documents' fenced ```bash/```sh/```shell/```console blocks (backslash
continuations joined, comments dropped), each classified as run by a test or left out with a
reason, and the few substitutions a test run makes to them.

A command's documented response is the ```json block that directly follows its block (only
blank lines between); ``assert_documented_shape`` compares a real response with it."""

import json
import re
import shlex
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = (REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")))
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
NO_RESPONSE = object()  # the command's block is not followed by a ```json block


class Kind(Enum):
    BUILD = "build"  # trains, exports, scripts or archives; runs before any server starts
    PUBLISH = "publish"  # uploads a build to S3 (the test's own S3 server)
    ENVIRONMENT = "environment"  # what every test command's environment already is
    SERVE = "serve"  # starts TorchServe; the requests after it in its document go to it
    WAIT = "wait"  # waits until the server started before it is ready
    STOP = "stop"  # stops the server of the commands before it
    REQUEST = "request"  # curl against the server started before it
    LEFT_OUT = "left out"


# Why a command that is never run is left out, by the label ``classify`` gives it.
LEFT_OUT = {
    "make test": "runs the whole test suite, this test included",
    "make bench": "a benchmark over minutes (400 requests at concurrency 8, then in-process) "
    "against a running `make serve`; tests/integration/test_bench.py runs scripts/bench.py "
    "against a real TorchServe with 24 requests",
    "make bench-runtimes": "a side-by-side benchmark over minutes after `make archives`; "
    "tests/integration/test_bench_compare.py runs scripts/bench.py --compare small",
    "benchmark": "scripts/bench.py and scripts/bench_padding.py measure throughput over "
    "minutes; they neither build, archive nor serve (tests/integration/test_bench.py, "
    "tests/unit/test_bench_padding.py run them small)",
    "make soak": "a soak test: 120 s at concurrency 32 on a TorchServe of its own, after "
    "`make archives`; tests/integration/test_soak.py runs scripts/soak.py for 5 s",
    "soak": "scripts/soak.py loads its own TorchServe for minutes (120 s at concurrency 32) "
    "and reports latency and memory; tests/integration/test_soak.py runs it for 5 s",
    "explain_html": "renders a saved explanation response as HTML: it neither builds, "
    "archives nor serves (tests/unit/test_explain_html.py and "
    "tests/integration/test_explain_html_render.py run it); one form pipes a `curl ...` "
    "placeholder",
    "token authorization": "README's production section (token authorization on): run as "
    "written by tests/integration/test_token_authorization.py against a TorchServe started "
    "with that section's configuration",
    "docker": "builds a container image (pip installs from the network, minutes) and needs "
    "a Docker daemon",
    "kubernetes": "needs a Kubernetes cluster (with KServe for deploy/kserve/); "
    "tests/unit/test_kserve_manifests.py validates every manifest it applies",
    "kserve": "docs/kserve.md's storage layout for a cluster: tests/unit/test_kserve_layout.py "
    "and tests/integration/test_kserve_probe.py write layouts with the same code and serve "
    "them as the runtime does",
}
LEFT_OUT_SCRIPTS = {"bench": "benchmark", "bench_padding": "benchmark", "soak": "soak",
                    "kserve_layout": "kserve",
                    "explain_html": "explain_html"}
# The documents whose commands one test runs in one folder, in this order (a later document
# may use what an earlier one built).
SCENARIOS = {
    "download_and_package": ("download_transformer_models.md", "package_model.md"),
    "readme_and_sagemaker": ("README.md", "sagemaker.md"),
}
TOKEN_AUTHORIZATION = re.compile(r"key_file\.json|Authorization: Bearer")
BUILD_PROGRAMS = {"torch-model-archiver", "mkdir", "tar"}
TRAINING_SCRIPT = re.compile(r"^(train|build)_\w+\.py$")  # runs with --quick in a test


@dataclass(frozen=True)
class Block:
    document: str
    line: int  # the first line inside the fence
    language: str
    lines: tuple[str, ...]
    follows_blank: bool  # only blank lines since the previous block closed


def fenced_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    inside: list[str] | None = None
    start, language, gap_blank = 0, "", False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line.strip())
        if inside is None and match:
            inside, start, language = [], number + 1, match[1].lower()
        elif inside is not None and line.strip() == "```":
            blocks.append(Block(path.name, start, language, tuple(inside), gap_blank))
            inside, gap_blank = None, True
        elif inside is not None:
            inside.append(line)
        elif line.strip():
            gap_blank = False
    return blocks


def ends_in_comment(line: str) -> bool:
    """Whether an unquoted ``#`` starting a word comments out the end of ``line``."""
    quote, index = None, 0
    while index < len(line):
        char = line[index]
        if quote is not None:
            quote = None if char == quote else quote
        elif char == "\\":
            index += 1
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return True
        index += 1
    return False


@dataclass(frozen=True)
class Command:
    document: str
    line: int
    text: str  # as shown, continuations joined
    response: object = NO_RESPONSE  # the documented JSON response

    @property
    def key(self) -> str:
        return f"{self.document}:{self.line}"

    @property
    def tokens(self) -> list[str]:
        return shlex.split(self.text, comments=True)

    @property
    def env(self) -> dict[str, str]:
        return dict(token.split("=", 1) for token in self._split()[0])

    @property
    def argv(self) -> list[str]:
        return self._split()[1]

    def _split(self) -> tuple[list[str], list[str]]:
        tokens = self.tokens
        count = next((i for i, t in enumerate(tokens) if not ENV_ASSIGNMENT.match(t)), 0)
        return tokens[:count], tokens[count:]


def block_commands(block: Block, response: object = NO_RESPONSE) -> list[Command]:
    found: list[Command] = []
    pending: str | None = None
    first = 0
    for offset, raw in enumerate(block.lines):
        if pending is None:
            if block.language == "console":
                if not raw.startswith("$ "):
                    continue  # output
                raw = raw[2:]
            pending, first = "", block.line + offset
        line = raw.rstrip()
        if line.endswith("\\") and not ends_in_comment(line[:-1]):
            pending += line[:-1].strip() + " "
            continue
        text, pending = (pending + line.strip()).strip(), None
        if shlex.split(text, comments=True):
            found.append(Command(block.document, first, text, response))
    return found


def documented_commands(documents=DOCUMENTS) -> list[Command]:
    """Every shell command of ``documents``, in document order."""
    commands: list[Command] = []
    for path in documents:
        blocks = fenced_blocks(path)
        for index, block in enumerate(blocks):
            if block.language not in SHELL_LANGUAGES:
                continue
            after = blocks[index + 1] if index + 1 < len(blocks) else None
            response = NO_RESPONSE
            if after is not None and after.language == "json" and after.follows_blank:
                response = json.loads("\n".join(after.lines))
            commands += block_commands(block, response)
    return commands


def scenario_commands(documents: tuple[str, ...]) -> list[Command]:
    """The commands of ``documents``, in the scenario's document order."""
    found = [c for c in documented_commands() if c.document in documents]
    return sorted(found, key=lambda c: (documents.index(c.document), c.line))


# ------------------------------------------------------------------------ classification


def script_of(argv: list[str]) -> str | None:
    """The project script a ``python`` command runs (``scripts/x.py`` or ``-m scripts.x``),
    as its file name, or None when it runs no script of this repository."""
    if len(argv) < 2 or Path(argv[0]).name not in ("python", "python3"):
        return None
    if argv[1] == "-m" and len(argv) > 2 and argv[2].startswith("scripts."):
        return argv[2].removeprefix("scripts.") + ".py"
    path = Path(argv[1])
    return path.name if path.parent.as_posix() == "scripts" else None


def classify(command: Command) -> tuple[Kind, str] | None:
    """(kind, label) of a documented command; None when no rule knows it, which fails the
    inventory test until the command is run by a test or left out with a reason."""
    argv = command.argv
    if TOKEN_AUTHORIZATION.search(command.text):
        return Kind.LEFT_OUT, "token authorization"
    if "|" in argv:  # a pipeline: known only if its last stage is left out
        last = classify(Command(command.document, command.line,
                                shlex.join(argv[argv.index("|") + 1:])))
        return last if last is not None and last[0] is Kind.LEFT_OUT else None
    program = Path(argv[0]).name
    script = script_of(argv)
    if argv[0] in (".", "source") and argv[1:] == [".venv/bin/activate"]:
        return Kind.ENVIRONMENT, "venv on PATH"
    if script == "serve":
        return Kind.SERVE, "entrypoint"
    if script == "wait_until_ready.py":
        return Kind.WAIT, "wait_until_ready"
    if script is not None and Path(script).stem in LEFT_OUT_SCRIPTS:
        return Kind.LEFT_OUT, LEFT_OUT_SCRIPTS[Path(script).stem]
    if script is not None and (REPO_ROOT / "scripts" / script).is_file():
        return Kind.BUILD, script
    if program == "make" and len(argv) == 2:
        target = argv[1]
        if target == "serve":
            return Kind.SERVE, "make"
        return (Kind.LEFT_OUT, f"make {target}") if f"make {target}" in LEFT_OUT else None
    if program == "torchserve" and "--start" in argv:
        return Kind.SERVE, "daemon"
    if program == "torchserve" and argv[1:] == ["--stop"]:
        return Kind.STOP, "torchserve --stop"
    if program == "curl":
        return Kind.REQUEST, "curl"
    if program in BUILD_PROGRAMS:
        return Kind.BUILD, program
    if program == "aws" and argv[1:3] == ["s3", "cp"]:
        # docs/kserve.md uploads a KServe layout, which only a cluster's storage initializer reads
        return (Kind.LEFT_OUT, "kserve") if command.document == "kserve.md" else (
            Kind.PUBLISH, "aws s3 cp")
    if program == "docker":
        return Kind.LEFT_OUT, "docker"
    if program == "kubectl":
        return Kind.LEFT_OUT, "kubernetes"
    return None


# -------------------------------------------------------------------------- substitutions


def without_optional(argv: list[str]) -> list[str]:
    """A synopsis's optional parts (``[--out DIR]``) dropped."""
    kept, optional = [], False
    for token in argv:
        optional = optional or token.startswith("[-")
        if not optional:
            kept.append(token)
        optional = optional and not token.endswith("]")
    return kept


def runnable(argv: list[str]) -> list[str]:
    """``argv`` as a test runs it: optional parts dropped, and ``--quick`` added to a
    script that trains, so that it trains for seconds rather than minutes."""
    argv = without_optional(argv)
    script = script_of(argv)
    if script is not None and TRAINING_SCRIPT.match(script) and "--quick" not in argv:
        argv = [*argv, "--quick"]
    return argv


LOCAL_URL = re.compile(r"(?<=//)(?:127\.0\.0\.1|localhost):(\d+)")


def rewrite_ports(text: str, ports: dict[int, int]) -> str:
    """Loopback URLs of ``text`` with each documented port replaced by the test's; a port
    the test has no server for is a KeyError."""
    return LOCAL_URL.sub(lambda match: f"127.0.0.1:{ports[int(match[1])]}", text)


# ---------------------------------------------------------------------------- responses


def assert_documented_shape(documented: object, actual: object, where: str = "$") -> None:
    """``actual`` has ``documented``'s shape: the same object keys, lists of items shaped
    like the documented first item (non-empty if it is), and the same scalar types (an int
    may stand for a documented float)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        assert sorted(actual) == sorted(documented), f"{where}: keys {sorted(actual)}"
        for key, value in documented.items():
            assert_documented_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(actual, list), f"{where}: {actual!r} is not a list"
        assert actual or not documented, f"{where}: empty list"
        for index, item in enumerate(actual):
            assert_documented_shape(documented[0], item, f"{where}[{index}]")
    elif isinstance(documented, float):
        assert type(actual) in (int, float), f"{where}: {actual!r} is not a number"
    else:
        assert type(actual) is type(documented), f"{where}: {actual!r} is not a {documented!r}"
