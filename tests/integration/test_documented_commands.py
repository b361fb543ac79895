"""Every shell command of README.md and docs/ that builds, archives or serves, run as written.

The commands are read from the documents (``tests/doc_commands.py``), so a changed command
is the command that runs. Each scenario runs its documents' commands in one folder laid out
like the repository (``tests/doc_scenario.py``): builds first, with ``--quick`` added to
training scripts and a synopsis's ``[optional]`` parts dropped; then every serve command on
free loopback ports (the real TorchServe: ``make serve``, ``torchserve --start``,
``scripts/serve``) with the documented ``curl`` lines after it, host:port rewritten, each of
which must answer 200 with JSON of the documented response's shape. Every model a server
serves answers a request, and every archive the commands made is served and answers one.

What a test provides, as the documents assume it exists: the user's ``model.py`` and
``weights.safetensors`` that package_model.md's synopsis packages (a tiny model), the
trained models `make serve` reuses from build/ and model_store/ that no documented command
trains (tiny NER and QA models, a quick EmbeddingBag archive), and an S3 server (moto) with
the bucket that sagemaker.md uploads to.
"""

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from safetensors.torch import save_model

from scripts.build_embeddingbag_archive import build as build_embeddingbag
from tests.doc_commands import SCENARIOS, Command, Kind, classify, scenario_commands
from tests.doc_scenario import Scenario
from tests.loopback_s3 import loopback_s3, s3_client
from tests.ner_models import planted_ner_model
from tests.qa_models import random_qa_model
from torchserve_nlp.training.embeddingbag_training import quick as quick_embeddingbag

pytestmark = pytest.mark.integration

USER_MODEL = '''
import torch
from torch import nn


class NewsClassifier(nn.Module):
    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.score = nn.Linear(embed_dim, 2)

    def predict_single(self, text: str) -> str:
        features = torch.full((self.embed_dim,), float(len(text)))
        return ["world", "sports"][int(self.score(features).argmax())]
'''
S3_DESTINATION = re.compile(r"^s3://([^/]+)/")


def to_run(commands: list[Command]) -> list[str]:
    return [c.key for c in commands if classify(c)[0] is not Kind.LEFT_OUT]


def write_user_model(root: Path, init_args: dict) -> None:
    """model.py and weights.safetensors, as package_model.md's command line expects them."""
    (root / "model.py").write_text(USER_MODEL)
    spec = importlib.util.spec_from_file_location("documented_user_model", root / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    save_model(module.NewsClassifier(**init_args), str(root / "weights.safetensors"))


def satisfy_make_training(root: Path) -> None:
    """`make serve` reuses build/ and model_store/: what it would train for many minutes and
    no documented command builds is a tiny or quick model."""
    planted_ner_model(root / "build" / "token_classification")
    random_qa_model(root / "build" / "question_answering")
    build_embeddingbag(quick_embeddingbag(root / "build" / "embeddingbag"), root / "model_store")


@pytest.fixture
def s3_server() -> Iterator[dict[str, str]]:
    with loopback_s3() as env:
        yield env


def create_buckets(commands: list[Command], env: dict[str, str]) -> None:
    client = s3_client(env)
    for command in commands:
        if classify(command)[0] is Kind.PUBLISH:
            client.create_bucket(Bucket=S3_DESTINATION.match(command.argv[-1])[1])


def test_download_and_package_model_commands(tmp_path):
    commands = scenario_commands(SCENARIOS["download_and_package"])
    scenario = Scenario(tmp_path)
    write_user_model(tmp_path, {"embed_dim": 64})
    scenario.run_documents(commands)
    assert sorted(scenario.ran) == sorted(to_run(commands))
    made = sorted(p.stem for p in tmp_path.glob("model_store/*.mar"))
    assert made == ["BERTSeqClassification", "embeddingbag_text_classifier", "news_classifier"]


def test_readme_and_sagemaker_commands(tmp_path, s3_server):
    commands = scenario_commands(SCENARIOS["readme_and_sagemaker"])
    # The quick and tiny models are not what the accuracy gates of the CPU-runtime archives
    # are for: score a few held-out examples, and build whatever they say.
    gate = {"GATE_ARGS": "--accept-metric-loss --held-out-limit 16"}
    scenario = Scenario(tmp_path, {**s3_server, **gate})
    create_buckets(commands, s3_server)
    satisfy_make_training(tmp_path)
    scenario.run_documents(commands)
    assert sorted(scenario.ran) == sorted(to_run(commands))
    made = sorted(p.stem for p in tmp_path.glob("model_store/*.mar"))
    assert made == sorted([
        "scriptable_tokenizer", "embeddingbag_text_classifier", "BERTTokenClassification",
        "BERTSeqClassification", "BERTSeqClassification_Torchscript", "BERTQuestionAnswering",
        "BERTSeqClassification_onnx_int8", "BERTSeqClassification_bf16",
        "BERTQuestionAnswering_onnx_int8",
    ])
