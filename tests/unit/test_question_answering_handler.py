"""The QA handler against transformers 4.57's QuestionAnsweringPipeline, and on a model whose
answers are known (tests/qa_models.py)."""

import json
import subprocess
import venv
from pathlib import Path

import pytest
from question_answering_handler import QuestionAnsweringHandler
from transformers import BertTokenizerFast

from tests.qa_models import END_WORD, START_WORD, planted_qa_model, random_qa_model
from tests.worker_context import WorkerContext

ORACLE_SCRIPT = Path(__file__).resolve().parents[1] / "hf4_qa_oracle.py"
ORACLE_PACKAGES = ["torch==2.13.0", "transformers==4.57.6"]
MAX_LENGTH, STRIDE = 32, 8
FILLER = (
    "The committee met on Tuesday in the old town hall to discuss the budget, the roads, "
    "the library and the new café near the river; nobody agreed on anything at all. "
)
ANSWER = f"{START_WORD} crossing {END_WORD}"
LATE_ANSWER_CONTEXT = FILLER * 2 + f"Then a {ANSWER} walked by.  Naïve Zoë left. " + FILLER
ORACLE_CONTEXTS = [
    "Ann met Bob Smith in Zürich yesterday.",
    "Café  naïve résumé: the 😀 emoji, 中文 text and   odd spacing all stay where they were.",
    FILLER * 3,
]
ORACLE_KWARGS = [
    {},
    {"top_k": 5},
    {"top_k": 3, "handle_impossible_answer": True},
    {"top_k": 3, "max_answer_len": 3},
    {"top_k": 3, "align_to_words": False},
]


@pytest.fixture(scope="module")
def hf4_python(tmp_path_factory) -> Path:
    """A separate venv with transformers 4.57.6, the last release with the QA pipeline."""
    root = tmp_path_factory.mktemp("hf4-venv")
    venv.create(root, with_pip=True)
    subprocess.run([root / "bin" / "python", "-m", "pip", "install", "-q", *ORACLE_PACKAGES],
                   check=True)
    return root / "bin" / "python"


@pytest.fixture(scope="module")
def random_dir(tmp_path_factory) -> Path:
    return random_qa_model(tmp_path_factory.mktemp("random_qa"))


@pytest.fixture(scope="module")
def planted_dir(tmp_path_factory) -> Path:
    return planted_qa_model(tmp_path_factory.mktemp("planted_qa"))


def load(model_dir: Path, **handler_config) -> QuestionAnsweringHandler:
    config = {"max_length": MAX_LENGTH, "doc_stride": STRIDE, **handler_config}
    handler = QuestionAnsweringHandler()
    handler.initialize(WorkerContext(model_dir, {"handler": config}))
    return handler


def serve(handler: QuestionAnsweringHandler, bodies: list) -> tuple[list, dict[int, int]]:
    context = WorkerContext(handler.model_dir)
    return handler.handle([{"body": body} for body in bodies], context), context.statuses


def as_list(result) -> list[dict]:
    return result if isinstance(result, list) else [result]


def oracle_answers(hf4_python: Path, model_dir: Path, cases: list[dict]) -> list[list[dict]]:
    """The 4.57 pipeline's answers, with the handler's window settings."""
    window = {"max_seq_len": MAX_LENGTH, "doc_stride": STRIDE}
    oracle = subprocess.run(
        [hf4_python, ORACLE_SCRIPT, model_dir],
        input=json.dumps([{**c, "kwargs": {**c["kwargs"], **window}} for c in cases]),
        capture_output=True, text=True, check=True,
    )
    return json.loads(oracle.stdout)


def assert_matches_oracle(hf4_python: Path, model_dir: Path, cases: list[dict]) -> list:
    expected = oracle_answers(hf4_python, model_dir, cases)
    bodies = [
        {"question": c["question"], "context": c["context"], "parameters": c["kwargs"]}
        for c in cases
    ]
    got, statuses = serve(load(model_dir), bodies)
    assert statuses == {}
    for case, answers, reference in zip(cases, got, expected, strict=True):
        answers = as_list(answers)
        assert len(answers) == len(reference), (case, answers, reference)
        for answer, ref in zip(answers, reference, strict=True):
            assert (answer["answer"], answer["start"], answer["end"]) == (
                ref["answer"], ref["start"], ref["end"]
            ), case
            assert answer["score"] == pytest.approx(ref["score"], abs=1e-4)
            assert case["context"][answer["start"] : answer["end"]] == answer["answer"]
    return got


def test_equals_the_transformers_4_pipeline(hf4_python, random_dir):
    questions = ["Who met whom?", "Where?", "When was it?", "What?", "Why?"]
    cases = [
        {"question": question, "context": context, "kwargs": kwargs}
        for context in ORACLE_CONTEXTS
        for question, kwargs in zip(questions, ORACLE_KWARGS, strict=True)
    ]
    assert_matches_oracle(hf4_python, random_dir, cases)
    # The long context really needs several windows.
    tokenizer = BertTokenizerFast.from_pretrained(random_dir)
    windows = tokenizer("Why?", FILLER * 3, truncation="only_second", max_length=MAX_LENGTH,
                        stride=STRIDE, return_overflowing_tokens=True)
    assert len(windows["input_ids"]) >= 5


def test_equals_the_pipeline_on_known_answers_and_no_answer(hf4_python, planted_dir):
    cases = [
        {"question": "What walked by?", "context": LATE_ANSWER_CONTEXT, "kwargs": {}},
        {"question": "What?", "context": LATE_ANSWER_CONTEXT, "kwargs": {"top_k": 3}},
        {"question": "What?", "context": LATE_ANSWER_CONTEXT,
         "kwargs": {"align_to_words": False}},
        {"question": "What walked by?", "context": FILLER,
         "kwargs": {"top_k": 3, "handle_impossible_answer": True}},
    ]
    got = assert_matches_oracle(hf4_python, planted_dir, cases)
    assert got[0]["answer"] == ANSWER
    assert got[3][0]["answer"] == ""


def test_answer_in_a_later_window_has_offsets_into_the_original_context(planted_dir):
    handler = load(planted_dir)
    (answer,), statuses = serve(
        handler, [{"question": "What walked by?", "context": LATE_ANSWER_CONTEXT}]
    )
    assert statuses == {}
    start = LATE_ANSWER_CONTEXT.index(ANSWER)
    assert (answer["answer"], answer["start"], answer["end"]) == (
        ANSWER, start, start + len(ANSWER)
    )
    assert answer["score"] > 0.99
    tokenizer = BertTokenizerFast.from_pretrained(planted_dir)
    first_window = tokenizer("What walked by?", LATE_ANSWER_CONTEXT, truncation="only_second",
                             max_length=MAX_LENGTH, return_offsets_mapping=True)
    assert max(end for _, end in first_window["offset_mapping"]) < start


def test_word_alignment_can_be_turned_off(planted_dir):
    handler = load(planted_dir)
    body = {"question": "What?", "context": LATE_ANSWER_CONTEXT,
            "parameters": {"align_to_words": False}}
    (answer,), _ = serve(handler, [body])
    assert answer["answer"] == f"{START_WORD} crossing giraf"


def test_no_answer_when_the_context_has_none_and_impossible_answers_are_allowed(planted_dir):
    handler = load(planted_dir)
    body = {"question": "What walked by?", "context": FILLER}
    allowed = {**body, "parameters": {"handle_impossible_answer": True}}
    (forced, empty), statuses = serve(handler, [body, allowed])
    assert statuses == {}
    assert (empty["answer"], empty["start"], empty["end"]) == ("", 0, 0)
    assert empty["score"] > 0.9
    assert forced["answer"] != ""
    assert FILLER[forced["start"] : forced["end"]] == forced["answer"]


def test_impossible_answers_default_comes_from_the_archive_config(planted_dir):
    handler = load(planted_dir, handle_impossible_answer=True)
    (answer, found), _ = serve(handler, [
        {"question": "What walked by?", "context": FILLER},
        {"question": "What walked by?", "context": LATE_ANSWER_CONTEXT},
    ])
    assert answer["answer"] == ""
    assert found["answer"] == ANSWER


def test_top_k_returns_a_list_best_first(planted_dir):
    handler = load(planted_dir)
    (answers,), _ = serve(handler, [
        {"inputs": {"question": "What?", "context": LATE_ANSWER_CONTEXT},
         "parameters": {"top_k": 3}},
    ])
    assert isinstance(answers, list) and len(answers) == 3
    assert answers[0]["answer"] == ANSWER
    assert [a["score"] for a in answers] == sorted((a["score"] for a in answers), reverse=True)
    assert len({a["answer"] for a in answers}) == 3


def test_request_shapes_raw_json_bytes_dict_inputs_and_data(planted_dir):
    handler = load(planted_dir)
    question = {"question": "What walked by?", "context": LATE_ANSWER_CONTEXT}
    bodies = [
        json.dumps(question).encode(),
        question,
        {"inputs": question},
        {"data": question},
    ]
    answers, statuses = serve(handler, bodies)
    assert statuses == {}
    assert [a["answer"] for a in answers] == [ANSWER] * 4


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"just some text, not JSON", "not JSON"),
        ({"context": "Ann met Bob."}, "'question'"),
        ({"question": "Who?", "context": "   "}, "'context' is empty"),
        ({"question": 3, "context": "Ann met Bob."}, "'question' must be a string"),
        ({"question": "Who?", "context": "Ann.", "parameters": {"top_k": 0}}, "top_k"),
        ({"question": "Who?", "context": "Ann.", "parameters": {"top_k": 21}}, "top_k"),
        ({"question": "Who?", "context": "Ann.", "parameters": {"doc_stride": 4}}, "doc_stride"),
        ({"question": "Who?", "context": "Ann.", "parameters": {"max_answer_len": "x"}},
         "max_answer_len"),
        ({"question": "why " * 40, "context": "Ann met Bob."}, "question has 40 tokens"),
        ({"inputs": "Who?"}, "'inputs' must be an object"),
    ],
)
def test_bad_request_fails_alone_with_400_naming_the_problem(planted_dir, body, named):
    handler = load(planted_dir)
    good = {"question": "What walked by?", "context": LATE_ANSWER_CONTEXT}
    results, statuses = serve(handler, [good, body, good])
    assert statuses == {1: 400}
    assert named in results[1]["message"]
    assert results[0]["answer"] == results[2]["answer"] == ANSWER


def test_context_needing_too_many_windows_gets_413_alone(planted_dir):
    handler = load(planted_dir, max_windows=3)
    good = {"question": "What walked by?", "context": f"A {ANSWER} walked by."}
    results, statuses = serve(handler, [{"question": "What?", "context": FILLER * 4}, good])
    assert statuses == {0: 413}
    assert "windows" in results[0]["message"]
    assert results[1]["answer"] == ANSWER


def test_configuration_leaving_no_room_for_a_question_fails_at_load(planted_dir):
    with pytest.raises(ValueError, match="no room for a question"):
        load(planted_dir, max_length=12, doc_stride=8)
