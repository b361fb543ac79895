"""The inventory of shell commands in README.md and docs/: every one is either run by
tests/integration/test_documented_commands.py or left out with a reason, so a new command in
the documents cannot go untested unnoticed. And the reading of the documents itself:
continuations, comments, synopses, console prompts, ports, response shapes."""

import re
from pathlib import Path

import pytest

from tests.doc_commands import (
    DOCUMENTS,
    LEFT_OUT,
    NO_RESPONSE,
    REPO_ROOT,
    SCENARIOS,
    Block,
    Kind,
    assert_documented_shape,
    block_commands,
    classify,
    documented_commands,
    fenced_blocks,
    rewrite_ports,
    runnable,
)

COMMANDS = documented_commands()


def test_every_documented_command_is_run_by_a_scenario_or_left_out_with_a_reason():
    unknown = [c.key + ": " + c.text for c in COMMANDS if classify(c) is None]
    assert unknown == [], "run these in a scenario or add them to LEFT_OUT with a reason"
    run = {c.key for c in COMMANDS if classify(c)[0] is not Kind.LEFT_OUT}
    in_scenarios = {c.key for c in COMMANDS
                    if any(c.document in docs for docs in SCENARIOS.values())}
    left_out = {c.key for c in COMMANDS if classify(c)[0] is Kind.LEFT_OUT}
    assert run <= in_scenarios, sorted(run - in_scenarios)
    assert {c.key for c in COMMANDS} == (run | left_out) and not run & left_out
    assert {classify(c)[1] for c in COMMANDS if c.key in left_out} == set(LEFT_OUT)


def test_the_tests_a_reason_names_exist():
    named = {path for reason in LEFT_OUT.values() for path in re.findall(r"tests/\S+\.py", reason)}
    assert named and not [path for path in named if not (REPO_ROOT / path).is_file()]


def test_the_documents_build_archive_and_serve_with_the_commands_the_scenarios_expect():
    kinds = {kind for kind, _ in map(classify, COMMANDS)}
    assert kinds == set(Kind)
    serves = sorted({label for kind, label in map(classify, COMMANDS) if kind is Kind.SERVE})
    assert serves == ["daemon", "entrypoint", "make"]
    names = {path.name for path in DOCUMENTS}
    assert {doc for docs in SCENARIOS.values() for doc in docs} <= names


def test_documented_responses_follow_their_requests():
    responses = [c for c in COMMANDS if c.response is not NO_RESPONSE]
    assert responses and all(classify(c)[0] is Kind.REQUEST for c in responses)


def block(text: str, language: str = "bash") -> Block:
    return Block("doc.md", 10, language, tuple(text.splitlines()), True)


def test_continuations_join_and_comments_do_not_continue():
    commands = block_commands(block(
        "python a.py --x 1 \\\n    --y '#2'   # why \\\n"
        "make bench   # = python b.py \\\n   #   --more\n\n# only a comment\ncurl -T f u"
    ))
    assert [(c.line, c.argv) for c in commands] == [
        (10, ["python", "a.py", "--x", "1", "--y", "#2"]),
        (12, ["make", "bench"]),
        (16, ["curl", "-T", "f", "u"]),
    ]


def test_console_blocks_run_prompted_lines_and_skip_output():
    commands = block_commands(block("$ make serve\nstarting\n$ curl a \\\n  b\n{}", "console"))
    assert [c.argv for c in commands] == [["make", "serve"], ["curl", "a", "b"]]


def test_environment_prefixes_are_the_commands_environment():
    [command] = block_commands(block("LOCAL=true X=a=b .venv/bin/python scripts/serve"))
    assert command.env == {"LOCAL": "true", "X": "a=b"}
    assert command.argv == [".venv/bin/python", "scripts/serve"]


def test_fences_pair_a_json_response_with_the_block_just_before_it(tmp_path: Path):
    doc = tmp_path / "doc.md"
    doc.write_text("```bash\ncurl u\n```\n\n```json\n{\"a\": 1}\n```\n"
                   "```bash\ncurl v\n```\ntext\n```json\n[]\n```\n")
    assert [b.language for b in fenced_blocks(doc)] == ["bash", "json", "bash", "json"]
    first, second = documented_commands([doc])
    assert first.response == {"a": 1} and second.response is NO_RESPONSE


def test_a_run_drops_optional_parts_and_trains_quickly():
    assert runnable(["python", "scripts/x.py", "a", "[--out", "DIR]", "[--seed", "N]", "-v"]) == [
        "python", "scripts/x.py", "a", "-v"]
    assert runnable([".venv/bin/python", "scripts/train_sentiment.py", "--out", "b"])[-1] == (
        "--quick")
    assert runnable(["python", "-m", "scripts.build_x", "--quick"]).count("--quick") == 1
    assert "--quick" not in runnable(["python", "scripts/package_model.py"])


def test_ports_are_rewritten_and_an_unknown_one_is_an_error():
    ports = {8080: 50001, 8081: 50002}
    assert rewrite_ports("curl http://localhost:8080/ping http://127.0.0.1:8081/models",
                         ports) == "curl http://127.0.0.1:50001/ping http://127.0.0.1:50002/models"
    with pytest.raises(KeyError):
        rewrite_ports("http://127.0.0.1:9999/", ports)


def test_response_shapes():
    documented = {"a": [{"s": "x", "n": 1, "f": 0.5}], "b": None}
    assert_documented_shape(documented, {"b": None, "a": [{"s": "y", "n": 2, "f": 1}] * 3})
    for wrong in ({"a": []}, {"a": [], "b": None}, {"a": [{"s": "y", "n": 2.0, "f": 1}], "b": 0},
                  {"a": [{"s": 1, "n": 2, "f": 1}], "b": None}):
        with pytest.raises(AssertionError):
            assert_documented_shape(documented, wrong)
