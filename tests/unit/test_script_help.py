"""Every command-line script in scripts/ explains itself: ``--help`` exits 0, has a description
paragraph between the usage block and the argument lists, and gives every argument help text.

Scripts are discovered by globbing (any ``scripts/*.py`` with a top-level ``main`` or importing
argparse), so a new script is covered without touching this file. Each runs as the user runs
it, ``python scripts/X.py --help`` from another directory, in a child forked from one process
that has already imported what the scripts import (torch, transformers; see ``FORK_RUNNER``).
"""

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"
TIMEOUT_S = 120
MIN_DESCRIPTION_WORDS = 8


def is_command_line_script(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            return True
        if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "argparse":
            return True
    return False


def top_level_imports(path: Path) -> set[str]:
    """Modules ``path`` imports at its top level (what ``--help`` has to load anyway)."""
    modules = set()
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return {m for m in modules if m.split(".")[0] not in ("scripts", "__future__")}


SCRIPT_NAMES = sorted(p.name for p in SCRIPTS.glob("*.py") if is_command_line_script(p))
PRELOAD = sorted(set().union(*(top_level_imports(SCRIPTS / name) for name in SCRIPT_NAMES)))


@dataclass(frozen=True)
class HelpPage:
    usage: str
    description: list[str]  # paragraphs between usage and the first argument section
    arguments: dict[str, list[str]]  # section title -> its entries' invocations
    missing_help: list[str]  # invocations with no help text


def usage_words(usage: str) -> set[str]:
    return {word.strip("[]()|") for word in usage.split()}


def argument_entries(paragraph: str, usage: str) -> list[tuple[str, bool]] | None:
    """``(invocation, has help)`` per entry if ``paragraph`` is an argument section, else None.

    An argument section is an unindented ``title:`` line (``options:``, ``positional
    arguments:``, a group's title) and entries each starting on a line indented by exactly two
    spaces with an option or positional that the usage block names; the entry's help follows
    the invocation on that line (after two or more spaces) or on deeper-indented lines. An
    epilog such as ``example:`` + an indented command line is not one: ``python`` is not in
    the usage.
    """
    title, *lines = paragraph.split("\n")
    if not title or title[0].isspace() or not title.endswith(":"):
        return None
    entries: list[tuple[str, bool]] = []
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        if indent == 2:
            invocation, _, help_text = line.strip().partition("  ")
            entries.append((invocation, bool(help_text.strip())))
        elif indent > 2 and entries and line.strip():
            entries[-1] = (entries[-1][0], True)  # help on the next line(s)
        else:
            return None
    known = usage_words(usage)
    if not entries or any(inv.split()[0].rstrip(",") not in known for inv, _ in entries):
        return None
    return entries


def parse_help(text: str) -> HelpPage:
    """Split argparse's help output into usage, description, argument sections and epilog.

    Paragraphs are separated by blank lines; the first is the usage block. Paragraphs before
    the first argument section (see ``argument_entries``) are the description, paragraphs
    that are not argument sections after it the epilog.
    """
    paragraphs = [p for p in text.strip("\n").split("\n\n") if p.strip()]
    usage, rest = paragraphs[0], paragraphs[1:]
    description: list[str] = []
    arguments: dict[str, list[str]] = {}
    missing: list[str] = []
    for paragraph in rest:
        entries = argument_entries(paragraph, usage)
        if entries is None:
            if not arguments:
                description.append(paragraph)
            continue  # the epilog once the sections have started
        arguments[paragraph.split("\n")[0][:-1]] = [invocation for invocation, _ in entries]
        missing += [invocation for invocation, has_help in entries if not has_help]
    return HelpPage(usage, description, arguments, missing)


# ``python scripts/<name> --help`` for each name, minus paying the torch import every time:
# this one process first imports every module the scripts import at their top level (most
# import torch through torchserve_nlp; 19 separate interpreters took over a minute on two busy
# cores), then forks a child per script that runs it exactly as ``python <path>`` would: as
# ``__main__``, with ``sys.argv[0]`` the path and ``sys.path[0]`` its directory, stdout and
# stderr to files. A module that fails to preload is left to the child, whose error then shows.
# argv: scripts dir, output dir, comma-separated modules to preload, script names.
# Prints {name: exit status} as JSON.
FORK_RUNNER = """
import importlib, json, os, runpy, sys, traceback
scripts, out_dir, preload, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
for module in filter(None, preload.split(",")):
    try:
        importlib.import_module(module)
    except Exception:
        pass
children = {}
for name in names:
    pid = os.fork()
    if pid:
        children[pid] = name
        continue
    code = 1
    try:
        for fd, suffix in ((1, ".out"), (2, ".err")):
            path = os.path.join(out_dir, name + suffix)
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        sys.argv = [os.path.join(scripts, name), "--help"]
        sys.path[0] = scripts
        try:
            runpy.run_path(sys.argv[0], run_name="__main__")
            code = 0
        except SystemExit as exit:
            if exit.code is None or isinstance(exit.code, int):
                code = exit.code or 0
            else:
                print(exit.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
statuses = {}
while children:
    pid, status = os.wait()
    statuses[children.pop(pid)] = os.waitstatus_to_exitcode(status)
print(json.dumps(statuses))
"""


@dataclass(frozen=True)
class HelpRun:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def help_runs(tmp_path_factory) -> dict[str, HelpRun]:
    """Every script's ``--help``, run from a directory outside the repository."""
    cwd = tmp_path_factory.mktemp("script_help")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "COLUMNS": "100",  # argparse wraps at $COLUMNS; fixed so the parse sees one layout
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    runner = subprocess.run(
        [sys.executable, "-c", FORK_RUNNER, str(SCRIPTS), str(cwd), ",".join(PRELOAD),
         *SCRIPT_NAMES],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    assert runner.returncode == 0, runner.stderr
    statuses = json.loads(runner.stdout)
    return {
        name: HelpRun(
            statuses[name],
            (cwd / f"{name}.out").read_text(encoding="utf-8"),
            (cwd / f"{name}.err").read_text(encoding="utf-8"),
        )
        for name in SCRIPT_NAMES
    }


def test_parse_help_reads_descriptions_sections_and_missing_help():
    page = parse_help(
        "usage: x.py [-h] [--long-option LONG_OPTION] [--bare] path\n"
        "\n"
        "Does a thing to a path and writes\n"
        "the result next to it.\n"
        "\n"
        "positional arguments:\n"
        "  path                  the input\n"
        "\n"
        "options:\n"
        "  -h, --help            show this help message and exit\n"
        "  --long-option LONG_OPTION\n"
        "                        help on its own line\n"
        "  --bare\n"
        "\n"
        "example:\n"
        "  python x.py in.txt\n"
    )
    assert page.description == ["Does a thing to a path and writes\nthe result next to it."]
    assert page.arguments == {
        "positional arguments": ["path"],
        "options": ["-h, --help", "--long-option LONG_OPTION", "--bare"],
    }
    assert page.missing_help == ["--bare"]
    one_line_example = "usage: z.py [-h]\n\nZ.\n\noptions:\n  -h, --help  show\n\nexample:\n  z\n"
    assert parse_help(one_line_example).arguments == {"options": ["-h, --help"]}
    assert parse_help("usage: y.py [-h]\n\noptions:\n  -h, --help  show this\n").description == []


def test_scripts_are_discovered():
    assert "train_sentiment.py" in SCRIPT_NAMES
    assert "archive_question_answering.py" in SCRIPT_NAMES  # main() only, argparse elsewhere
    assert "__init__.py" not in SCRIPT_NAMES


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_help_describes_the_script_and_every_argument(name, help_runs):
    result = help_runs[name]
    assert result.returncode == 0, f"{name} --help exited {result.returncode}:\n{result.stderr}"
    assert result.stdout.startswith("usage:"), result.stdout
    page = parse_help(result.stdout)
    words = " ".join(page.description).split()
    assert len(words) >= MIN_DESCRIPTION_WORDS, (
        f"{name} --help has no description paragraph (what it does, its inputs and outputs) "
        f"between usage and the argument lists:\n{result.stdout}"
    )
    assert page.arguments, f"{name} --help lists no arguments:\n{result.stdout}"
    assert not page.missing_help, (
        f"{name} --help: no help text for {page.missing_help}:\n{result.stdout}"
    )
