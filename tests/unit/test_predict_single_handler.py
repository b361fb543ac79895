"""The generic handler on an unpacked archive, driven through TorchServe's real Context."""

import importlib.util
import json
import logging
import textwrap
import zipfile
from pathlib import Path

import pytest
from predict_single_handler import PredictSingleHandler
from ts.context import Context, RequestProcessor

from torchserve_nlp import package_model

MODELS = textwrap.dedent(
    '''
    import torch
    from torch import nn


    class Echo(nn.Module):
        """Text in; raises ValueError for 'refuse', RuntimeError for 'crash'."""

        def __init__(self, width: int) -> None:
            super().__init__()
            self.width = width
            self.linear = nn.Linear(width, 1)

        def predict_single(self, text: str) -> dict:
            if text == "refuse":
                raise ValueError("refuse is not a review")
            if text == "crash":
                raise RuntimeError("the model broke")
            if text == "unserialisable":
                return {"value": object()}
            return {"text": text, "grad": torch.is_grad_enabled(), "training": self.training,
                    "score": self.linear(torch.ones(self.width))}


    class Batched(Echo):
        def predict_batch(self, texts: list[str]) -> list[str]:
            if "refuse" in texts:
                raise ValueError("one bad text spoils the batch")
            return ["batch:" + text for text in texts]

        def predict_single(self, text: str) -> str:
            if text == "refuse":
                raise ValueError("refuse is not a review")
            return "single:" + text


    class BatchedFaulty(Echo):
        """Fails with other exceptions than ValueError, in both methods."""

        def predict_batch(self, texts: list[str]) -> list[str]:
            if "crash" in texts:
                raise TypeError("cannot batch a crash")
            return ["batch:" + text for text in texts]

        def predict_single(self, text: str) -> str:
            if text == "crash":
                raise KeyError("crash")
            return "single:" + text


    class TakesBytes(Echo):
        def predict_single(self, data: bytes) -> int:
            return len(data)


    class TakesObject(Echo):
        def predict_single(self, payload: dict[str, int]) -> int:
            return sum(payload.values())


    class TakesAnything(Echo):
        def predict_single(self, item):
            return {"type": type(item).__name__}
    '''
)


@pytest.fixture(scope="module")
def user_module(tmp_path_factory):
    directory = tmp_path_factory.mktemp("user")
    path = directory / "handler_test_models.py"
    path.write_text(MODELS)
    spec = importlib.util.spec_from_file_location("handler_test_models_original", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def served(user_module, tmp_path: Path, class_name: str) -> tuple[PredictSingleHandler, Path]:
    """Package, unpack as TorchServe would, and initialise the handler on it."""
    path, module = user_module
    archive = package_model("m", getattr(module, class_name)(3), path, tmp_path / "store")
    model_dir = tmp_path / "model_dir"
    with zipfile.ZipFile(archive) as mar:
        mar.extractall(model_dir)
    handler = PredictSingleHandler()
    handler.initialize(context_for(model_dir, []))
    return handler, model_dir


def context_for(model_dir: Path, headers: list[dict]) -> Context:
    manifest = json.loads((model_dir / "MAR-INF" / "MANIFEST.json").read_text())
    context = Context("m", str(model_dir), manifest, 8, None, "0.12.0")
    context.request_processor = [RequestProcessor(h) for h in headers]
    return context


def run(handler, model_dir, requests: list[tuple[dict, dict]]) -> tuple[list, list[int]]:
    context = context_for(model_dir, [headers for _, headers in requests])
    results = handler.handle([request for request, _ in requests], context)
    statuses = [context.get_response_status(i)[0] for i in range(len(requests))]
    return results, statuses


def test_text_inputs_in_every_wire_form_and_errors_fail_alone(user_module, tmp_path):
    handler, model_dir = served(user_module, tmp_path, "Echo")
    results, statuses = run(
        handler,
        model_dir,
        [
            ({"body": bytearray("Café 中文".encode())}, {}),
            ({"body": "plain text"}, {"Content-Type": "text/plain"}),
            ({"body": {"data": "as json"}}, {"Content-Type": "application/json"}),
            ({"body": "refuse"}, {}),
            ({"body": "crash"}, {}),
            ({"body": "unserialisable"}, {}),
            ({}, {"Content-Type": "application/x-www-form-urlencoded"}),
            ({"body": bytearray(b"\xc3\x28")}, {}),
        ],
    )
    assert statuses == [200, 200, 200, 400, 500, 500, 400, 400]
    expected = handler.model.predict_single("plain text")
    second = json.loads(results[1])
    assert second["text"] == "plain text" and second["score"] == expected["score"].tolist()
    assert [json.loads(results[i])["text"] for i in (0, 2)] == ["Café 中文", "as json"]
    assert second["grad"] is False and second["training"] is False  # inference mode, eval
    assert results[0].startswith('{\n  "text": "Café')  # JSON text, not ASCII-escaped
    assert results[3]["message"] == "Echo.predict_single raised ValueError: refuse is not a review"
    assert results[4]["message"] == "Echo.predict_single raised RuntimeError: the model broke"
    assert "not JSON-serialisable" in results[5]["message"]
    assert "-H 'Content-Type: text/plain'" in results[6]["message"]
    assert "not valid UTF-8" in results[7]["message"]


def test_predict_batch_is_used_and_a_failing_batch_is_retried_item_by_item(user_module, tmp_path):
    handler, model_dir = served(user_module, tmp_path, "Batched")
    results, statuses = run(handler, model_dir, [({"body": t}, {}) for t in ("a", "b")])
    assert [json.loads(r) for r in results] == ["batch:a", "batch:b"] and statuses == [200, 200]
    results, statuses = run(handler, model_dir, [({"body": t}, {}) for t in ("a", "refuse", "b")])
    assert statuses == [200, 400, 200]
    assert json.loads(results[0]) == "single:a" and json.loads(results[2]) == "single:b"
    assert "refuse is not a review" in results[1]["message"]


def test_other_exceptions_in_a_batch_are_500_for_their_request_alone(
    user_module, tmp_path, caplog
):
    handler, model_dir = served(user_module, tmp_path, "BatchedFaulty")
    results, statuses = run(handler, model_dir, [({"body": t}, {}) for t in ("a", "b")])
    assert [json.loads(r) for r in results] == ["batch:a", "batch:b"] and statuses == [200, 200]
    with caplog.at_level(logging.WARNING, logger="predict_single_handler"):
        results, statuses = run(
            handler, model_dir, [({"body": t}, {}) for t in ("a", "crash", "b")]
        )
    assert statuses == [200, 500, 200]
    assert json.loads(results[0]) == "single:a" and json.loads(results[2]) == "single:b"
    assert results[1] == {
        "code": 500,
        "type": "InternalServerError",
        "message": "BatchedFaulty.predict_single raised KeyError: 'crash'",
    }
    retried = [r for r in caplog.records if "retrying item by item" in r.getMessage()]
    assert retried and "TypeError: cannot batch a crash" in retried[0].exc_text


def test_explain_is_refused_for_text_and_is_data_for_a_json_input(user_module, tmp_path):
    handler, model_dir = served(user_module, tmp_path, "Echo")
    json_type = {"Content-Type": "application/json"}
    results, statuses = run(
        handler,
        model_dir,
        [
            ({"body": {"data": "plain", "explain": False}}, json_type),
            ({"body": {"data": "asked", "explain": True}}, json_type),
            ({"body": "asked"}, {"explain": "True"}),  # /explanations
        ],
    )
    assert statuses == [200, 400, 400]
    assert json.loads(results[0])["text"] == "plain"
    for refused in results[1:]:
        assert refused["message"].startswith("PredictSingleHandler gives no explanations")
        assert "/explanations/BERTSeqClassification" in refused["message"]
    handler, model_dir = served(user_module, tmp_path / "object", "TakesObject")
    results, statuses = run(handler, model_dir, [({"body": {"explain": 1, "a": 2}}, json_type)])
    assert statuses == [200] and json.loads(results[0]) == 3


def test_bytes_annotation_gets_the_raw_body(user_module, tmp_path):
    handler, model_dir = served(user_module, tmp_path, "TakesBytes")
    results, statuses = run(
        handler,
        model_dir,
        [
            ({"body": bytearray(b"\x00\xff\x10")}, {}),
            ({"body": "héllo"}, {"Content-Type": "text/plain"}),
        ],
    )
    assert [json.loads(r) for r in results] == [3, 6] and statuses == [200, 200]


def test_dict_annotation_gets_parsed_json_and_refuses_other_json(user_module, tmp_path):
    handler, model_dir = served(user_module, tmp_path, "TakesObject")
    results, statuses = run(
        handler,
        model_dir,
        [
            ({"body": bytearray(b'{"a": 1, "b": 2}')}, {}),
            ({"body": {"c": 5}}, {"Content-Type": "application/json"}),
            ({"body": [1, 2]}, {"Content-Type": "application/json"}),
            ({"body": bytearray(b"{nope")}, {}),
        ],
    )
    assert statuses == [200, 200, 400, 400]
    assert json.loads(results[0]) == 3 and json.loads(results[1]) == 5
    assert results[2]["message"] == "body is a JSON list; this model takes a JSON object"
    assert "not valid JSON" in results[3]["message"]


def test_unannotated_input_is_text_or_json_by_content_type(user_module, tmp_path):
    handler, model_dir = served(user_module, tmp_path, "TakesAnything")
    results, _ = run(
        handler,
        model_dir,
        [
            ({"body": bytearray(b"[1]")}, {}),
            ({"body": [1]}, {"Content-Type": "application/json"}),
        ],
    )
    assert [json.loads(r)["type"] for r in results] == ["str", "list"]
