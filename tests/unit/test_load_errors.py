"""A handler that cannot serve its archive fails at load, saying what to fix.

Every error a handler's ``load`` raises (configuration, tokenizer, labels, windows, the
predict_single spec and model, the scripted model's labels), through ``initialize`` on a model
directory laid out as TorchServe unpacks the archive, with one thing wrong.
"""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from predict_single_handler import PredictSingleHandler
from question_answering_handler import QuestionAnsweringHandler
from scripted_text_classifier_handler import ScriptedTextClassifierHandler
from sequence_classification_handler import SequenceClassificationHandler
from token_classification_handler import TokenClassificationHandler
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

from nlp_runtime.hf.config import parse_handler_config
from nlp_runtime.tasks.predict_single_model import SPEC_FILE, WEIGHTS_FILE, ModelSpec
from tests.ner_models import save_tiny_ner
from tests.qa_models import random_qa_model
from tests.tiny_handlers import (
    SCRIPTED_FILE,
    TRACED_FILE,
    save_predict_single,
    save_scripted_classifier,
    save_tiny_classifier,
    save_traced_classifier,
    write_setup,
)
from tests.worker_context import WorkerContext
from torchserve_nlp.data.ner_data import LABELS as NER_LABELS
from torchserve_nlp.data.offline_assets import minilm_dir

SETUP = {"model_name": "tiny-classifier", "mode": "sequence_classification", "max_length": 64}
MODELS = '''
from torch import nn


class Model(nn.Module):
    def __init__(self, width: int = 2) -> None:
        super().__init__()
        self.linear = nn.Linear(width, 1)

    def predict_single(self, text: str) -> str:
        return text


class NotAModule:
    def predict_single(self, text: str) -> str:
        return text
'''


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("classifier"))


@pytest.fixture(scope="module")
def traced_dir(classifier_dir, tmp_path_factory) -> Path:
    return save_traced_classifier(classifier_dir, tmp_path_factory.mktemp("t") / "traced")


@pytest.fixture(scope="module")
def ner_dir(tmp_path_factory) -> Path:
    return save_tiny_ner(
        tmp_path_factory.mktemp("ner"), model_name="tiny-ner", mode="token_classification",
        max_length=32, doc_stride=8,
    )


@pytest.fixture(scope="module")
def qa_dir(tmp_path_factory) -> Path:
    return random_qa_model(tmp_path_factory.mktemp("qa"), max_length=32, doc_stride=8)


@pytest.fixture(scope="module")
def predict_single_dir(tmp_path_factory) -> Path:
    return save_predict_single(tmp_path_factory.mktemp("ps"), MODELS, "Model", "user_model.py")


def copy(model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model_dir, tmp_path / model_dir.name))


def load(handler: Any, model_dir: Path, yaml_config: dict | None = None,
         serialized_file: str = "model.safetensors") -> None:
    handler.initialize(WorkerContext(model_dir, yaml_config, serialized_file=serialized_file))


@pytest.mark.parametrize(
    ("setup", "yaml_config", "message"),
    [
        ({**SETUP, "captum_explanation": True}, None,
         "unknown configuration key 'captum_explanation'; known keys: ['aggregation_strategy',"),
        ({"model_name": "tiny"}, None, "configuration key 'mode' is required"),
        ({**SETUP, "max_length": "long"}, None, "'max_length' must be an integer, got 'long'"),
        ({**SETUP, "doc_stride": 64}, None,
         "'doc_stride' (64) must be smaller than 'max_length' (64)"),
        ({**SETUP, "mode": "question_answering"}, None,
         "'mode' is 'question_answering'; this handler serves sequence_classification"),
        (SETUP, {"handler": {"max_length": 32}},
         "configuration key 'max_length' is 64 in setup_config.json but 32 in model-config.yaml"),
        (None, {"batchSize": 4},
         "no handler configuration: archive setup_config.json or give a 'handler' section in "
         "model-config.yaml"),
        ([SETUP], None, "setup_config.json must hold a mapping, got list"),
        (SETUP, {"handler": ["max_length"]},
         "model-config.yaml handler must hold a mapping, got list"),
    ],
    ids=["unknown-key", "required-key", "invalid-value", "doc_stride", "wrong-mode",
         "sources-disagree", "no-configuration", "setup-not-a-mapping", "yaml-not-a-mapping"],
)
def test_configuration_errors(classifier_dir, tmp_path, setup, yaml_config, message):
    model_dir = copy(classifier_dir, tmp_path)
    path = model_dir / "setup_config.json"
    if setup is None:
        path.unlink()
    else:
        path.write_text(json.dumps(setup))
    with pytest.raises(ValueError) as error:
        load(SequenceClassificationHandler(), model_dir, yaml_config)
    assert message in str(error.value)


def test_a_configuration_that_is_not_a_mapping_is_refused_by_the_parser():
    # load_handler_config checks both sources first; the parser guards its other callers.
    with pytest.raises(ValueError, match="handler configuration must be a mapping, got list"):
        parse_handler_config([("model_name", "x")])


@pytest.mark.parametrize("handler", [TokenClassificationHandler, QuestionAnsweringHandler])
def test_a_slow_tokenizer_is_refused_where_offsets_are_needed(ner_dir, qa_dir, tmp_path, handler):
    model_dir = copy(ner_dir if handler is TokenClassificationHandler else qa_dir, tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (model_dir / name).unlink(missing_ok=True)
    BertTokenizerLegacy(vocab_file=str(minilm_dir() / "vocab.txt")).save_pretrained(model_dir)
    with pytest.raises(ValueError) as error:
        load(handler(), model_dir)
    assert str(error.value) == f"{model_dir} holds a slow tokenizer; archive tokenizer.json"


def test_labels_need_config_json(traced_dir, tmp_path):
    # A traced archive without index_to_name.json names its labels from config.json alone.
    model_dir = copy(traced_dir, tmp_path)
    (model_dir / "config.json").unlink()
    with pytest.raises(ValueError) as error:
        load(SequenceClassificationHandler(), model_dir, serialized_file=TRACED_FILE)
    assert str(error.value) == "archive config.json (with id2label) to name the labels"


def test_labels_need_id2label(traced_dir, tmp_path):
    model_dir = copy(traced_dir, tmp_path)
    config = json.loads((model_dir / "config.json").read_text())
    del config["id2label"]
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="^config.json has no id2label$"):
        load(SequenceClassificationHandler(), model_dir, serialized_file=TRACED_FILE)


def test_num_labels_must_match_the_archived_labels(ner_dir, tmp_path):
    model_dir = copy(ner_dir, tmp_path)
    setup = json.loads((model_dir / "setup_config.json").read_text())
    write_setup(model_dir, **setup, num_labels=3)
    with pytest.raises(ValueError) as error:
        load(TokenClassificationHandler(), model_dir)
    assert str(error.value) == f"'num_labels' is 3; the archive names {len(NER_LABELS)} labels"


def test_ner_stride_must_leave_new_tokens_in_each_window(ner_dir, tmp_path):
    model_dir = copy(ner_dir, tmp_path)
    write_setup(model_dir, model_name="tiny-ner", mode="token_classification", max_length=16,
                doc_stride=14)
    with pytest.raises(ValueError) as error:
        load(TokenClassificationHandler(), model_dir)
    assert str(error.value) == (
        "'doc_stride' (14) must be smaller than the 14 text tokens a window of 'max_length' 16 "
        "holds"
    )


def test_qa_window_must_leave_room_for_a_question(qa_dir, tmp_path):
    model_dir = copy(qa_dir, tmp_path)
    write_setup(model_dir, model_name="tiny-qa", mode="question_answering", max_length=12,
                doc_stride=8)
    with pytest.raises(ValueError) as error:
        load(QuestionAnsweringHandler(), model_dir)
    assert str(error.value) == (
        "'max_length' 12 leaves no room for a question beside 'doc_stride' 8; raise max_length "
        "or lower doc_stride"
    )


@pytest.mark.parametrize(
    ("spec", "error_type", "message"),
    [
        (None, ValueError, "cannot read the model spec {dir}/predict_single.json: [Errno 2]"),
        ("{not json", ValueError, "cannot read the model spec {dir}/predict_single.json: "
         "Expecting property name"),
        ({"model_file": "user_model.py"}, ValueError,
         "model spec {dir}/predict_single.json lacks ['class_name']; repackage the model"),
        (ModelSpec("user_model.py", "Missing"), LookupError,
         "class 'Missing' is not defined in {dir}/user_model.py (classes defined there: "
         "['Model', 'NotAModule']); pass the file that defines the model's class"),
        (ModelSpec("user_model.txt", "Model"), ImportError,
         "cannot load {dir}/user_model.txt as a Python module; pass a .py file"),
        (ModelSpec("user_model.py", "NotAModule"), TypeError,
         "NotAModule is a NotAModule, not a torch.nn.Module"),
        (ModelSpec("user_model.py", "Model", {"width": 3}), RuntimeError,
         "size mismatch for linear.weight"),
    ],
    ids=["spec-missing", "spec-not-json", "spec-lacks-keys", "class-missing", "not-python",
         "not-a-module", "weights-mismatch"],
)
def test_predict_single_spec_and_model_errors(
    predict_single_dir, tmp_path, spec, error_type, message
):
    model_dir = copy(predict_single_dir, tmp_path)
    shutil.copy(model_dir / "user_model.py", model_dir / "user_model.txt")
    path = model_dir / SPEC_FILE
    if spec is None:
        path.unlink()
    else:
        path.write_text(spec.to_json() if isinstance(spec, ModelSpec) else
                        spec if isinstance(spec, str) else json.dumps(spec))
    with pytest.raises(error_type) as error:
        load(PredictSingleHandler(), model_dir, serialized_file=WEIGHTS_FILE)
    assert message.format(dir=model_dir) in str(error.value)


def test_scripted_labels_must_name_every_class(tmp_path):
    model_dir = save_scripted_classifier(tmp_path / "scripted", {"0": "a", "1": "b", "2": "c"})
    with pytest.raises(ValueError) as error:
        load(ScriptedTextClassifierHandler(), model_dir, serialized_file=SCRIPTED_FILE)
    path = model_dir / "index_to_name.json"
    assert str(error.value) == f"{path} names 3 classes, the model has 2"


def test_scripted_archive_needs_index_to_name(tmp_path):
    model_dir = save_scripted_classifier(tmp_path / "scripted")
    (model_dir / "index_to_name.json").unlink()
    with pytest.raises(FileNotFoundError, match="index_to_name.json"):
        load(ScriptedTextClassifierHandler(), model_dir, serialized_file=SCRIPTED_FILE)
