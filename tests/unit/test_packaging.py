"""package_model refuses what it could not serve, naming the problem, and archives the rest."""

import importlib.util
import json
import re
import shutil
import textwrap
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from torchserve_nlp import package_model
from torchserve_nlp.archive.packaging import BatchingConfig, PackagingError, load_model_from_files

MODELS = textwrap.dedent(
    """
    from pathlib import Path

    import torch
    from torch import nn


    class Doubler(nn.Module):
        def __init__(self, width: int, vocab_path: str = "", label: str = "x") -> None:
            super().__init__()
            self.width = width
            self.vocab_path = vocab_path
            self.label = label
            self.offset = 0.0
            self.words = Path(vocab_path).read_text().split() if vocab_path else []
            self.linear = nn.Linear(width, width)

        def predict_single(self, text: str) -> dict:
            x = torch.full((self.width,), float(len(text)))
            return {"label": self.label, "words": self.words,
                    "values": (self.linear(x) * 2 + self.offset).tolist()}


    class NoPredict(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.width = width
            self.linear = nn.Linear(width, width)


    class HoldsObject(nn.Module):
        def __init__(self, tokenizer: object) -> None:
            super().__init__()
            self.tokenizer = tokenizer

        def predict_single(self, text: str) -> str:
            return text


    class Forgetful(nn.Module):
        def __init__(self, hidden_size: int) -> None:
            super().__init__()
            self.linear = nn.Linear(hidden_size, 1)

        def predict_single(self, text: str) -> str:
            return text
    """
)


def write_module(directory: Path, name: str, source: str):
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"test_packaging_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


@pytest.fixture
def models(tmp_path):
    return write_module(tmp_path, "user_models", MODELS)


def test_class_without_predict_single_is_refused(models, tmp_path):
    path, module = models
    with pytest.raises(PackagingError, match="NoPredict has no predict_single method"):
        package_model("m", module.NoPredict(2), path, tmp_path / "store")


def test_class_defined_in_another_file_is_refused(models, tmp_path):
    _, module = models
    other, _ = write_module(tmp_path, "other_models", "class Unrelated:\n    pass\n")
    with pytest.raises(PackagingError) as error:
        package_model("m", module.Doubler(2), other, tmp_path / "store")
    assert "'Doubler' is not defined in" in str(error.value)
    assert "['Unrelated']" in str(error.value)


def test_non_json_constructor_argument_is_named(models, tmp_path):
    path, module = models
    with pytest.raises(PackagingError) as error:
        package_model("m", module.HoldsObject(tokenizer=object()), path, tmp_path / "store")
    message = str(error.value)
    assert "constructor argument 'tokenizer' of HoldsObject" in message
    assert "builtins.object" in message


def test_nested_non_json_value_is_located(models, tmp_path):
    path, module = models
    model = module.Doubler(2)
    with pytest.raises(PackagingError, match=r"label\['bad'\]\[1\] is nan"):
        package_model(
            "m",
            model,
            path,
            tmp_path / "store",
            init_args={"width": 2, "label": {"bad": [1.0, float("nan")]}},
        )


def test_constructor_argument_without_attribute_asks_for_init_args(models, tmp_path):
    path, module = models
    with pytest.raises(PackagingError, match=r"\['hidden_size'\].*init_args"):
        package_model("m", module.Forgetful(3), path, tmp_path / "store")


def test_init_args_must_match_the_signature(models, tmp_path):
    path, module = models
    with pytest.raises(PackagingError, match=r"unknown \['depth'\], missing required \['width'\]"):
        package_model("m", module.Doubler(2), path, tmp_path / "store", init_args={"depth": 1})


def test_init_args_that_build_another_architecture_are_refused(models, tmp_path):
    path, module = models
    with pytest.raises(PackagingError, match="size mismatch"):
        package_model("m", module.Doubler(2), path, tmp_path / "store", init_args={"width": 3})


def test_state_outside_args_and_weights_is_caught_with_a_sample(models, tmp_path):
    path, module = models
    model = module.Doubler(2)
    model.offset = 5.0
    with pytest.raises(PackagingError, match="answers the sample input"):
        package_model("m", model, path, tmp_path / "store", sample_input="abc")


def test_path_argument_outside_extra_files_is_refused(models, tmp_path):
    path, module = models
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a b")
    with pytest.raises(PackagingError, match="'vocab_path' is the path .* not one of extra_files"):
        package_model(
            "m",
            module.Doubler(2),
            path,
            tmp_path / "store",
            init_args={"width": 2, "vocab_path": vocab},
        )


def test_file_names_that_clash_inside_the_flat_archive_are_refused(models, tmp_path):
    path, module = models
    for name in ("sequence_classification_handler.py", "nlp_runtime"):  # the runtime's root
        clash = tmp_path / name / name
        clash.parent.mkdir()
        clash.write_text("")
        with pytest.raises(PackagingError, match=f"'{name}', a name the archive already uses"):
            package_model("m", module.Doubler(2), path, tmp_path / "store", extra_files=[clash])


def test_archive_holds_class_file_args_weights_and_batching(models, tmp_path):
    path, module = models
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("alpha beta")
    model = module.Doubler(4, vocab_path=str(vocab), label="news")
    archive = package_model(
        "doubler",
        model,
        path,
        tmp_path / "store",
        extra_files=[vocab],
        batching=BatchingConfig(batch_size=6, max_batch_delay_ms=150),
        sample_input="hello",
    )
    assert archive == tmp_path / "store" / "doubler.mar"
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(archive) as mar:
        mar.extractall(unpacked)
    spec = json.loads((unpacked / "predict_single.json").read_text())
    assert spec == {
        "model_file": "user_models.py",
        "class_name": "Doubler",
        "init_args": {"width": 4, "label": "news"},
        "archive_files": {"vocab_path": "vocab.txt"},
    }
    assert (unpacked / "vocab.txt").read_text() == "alpha beta"
    config = yaml.safe_load((unpacked / "model-config.yaml").read_text())
    assert config["batchSize"] == 6 and config["maxBatchDelay"] == 150
    weights = load_file(unpacked / "weights.safetensors")
    for key, tensor in model.state_dict().items():
        assert torch.equal(weights[key], tensor), key
    manifest = json.loads((unpacked / "MAR-INF" / "MANIFEST.json").read_text())
    assert manifest["model"]["handler"] == "predict_single_handler.py"


def test_default_batching_forms_batches():
    assert BatchingConfig().batch_size >= 4 and BatchingConfig().max_batch_delay_ms > 0


def test_cli_loader_rebuilds_from_file_and_safetensors(models, tmp_path):
    path, module = models
    model = module.Doubler(3)
    from safetensors.torch import save_model

    save_model(model, str(tmp_path / "weights.safetensors"))
    rebuilt = load_model_from_files(
        path, tmp_path / "weights.safetensors", {"width": 3}, class_name="Doubler"
    )
    assert rebuilt.predict_single("abcd") == model.predict_single("abcd")
    with pytest.raises(PackagingError, match=r"defines 3 classes with predict_single"):
        load_model_from_files(path, tmp_path / "weights.safetensors", {"width": 3})
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(PackagingError, match="not a .safetensors file"):
        load_model_from_files(path, tmp_path / "weights.pt", {"width": 3}, "Doubler")


UNPACKABLE = textwrap.dedent(
    """
    from torch import nn


    class PositionalOnly(nn.Module):
        def __init__(self, width, /) -> None:
            super().__init__()
            self.width = width

        def predict_single(self, text: str) -> str:
            return text


    class TwoInputs(nn.Module):
        def predict_single(self, text: str, language: str) -> str:
            return text


    class NoInput(nn.Module):
        def predict_single(self) -> str:
            return ""


    class NotAModule:
        def predict_single(self, text: str) -> str:
            return text
    """
)


@pytest.fixture
def unpackable(tmp_path):
    return write_module(tmp_path, "unpackable", UNPACKABLE)


@pytest.mark.parametrize(
    "batching", [{"batch_size": 0}, {"max_batch_delay_ms": -1}, {"workers": 0}],
    ids=["batch_size", "max_batch_delay_ms", "workers"],
)
def test_invalid_batching_is_refused(batching):
    with pytest.raises(PackagingError) as error:
        BatchingConfig(**batching)
    assert str(error.value).startswith("invalid batching BatchingConfig(")
    assert str(error.value).endswith(
        "batch_size and workers must be >= 1 and max_batch_delay_ms >= 0"
    )


def test_model_that_is_not_a_module_is_refused(unpackable, tmp_path):
    path, module = unpackable
    with pytest.raises(PackagingError, match="^model is a NotAModule, not a torch.nn.Module$"):
        package_model("m", module.NotAModule(), path, tmp_path / "store")


@pytest.mark.parametrize(
    ("class_name", "signature"), [("TwoInputs", "(self, text: str, language: str)"),
                                  ("NoInput", "(self)")],
)
def test_predict_single_must_take_one_input(unpackable, tmp_path, class_name, signature):
    path, module = unpackable
    with pytest.raises(PackagingError) as error:
        package_model("m", getattr(module, class_name)(), path, tmp_path / "store")
    assert str(error.value).startswith(f"{class_name}.predict_single{signature}")
    assert str(error.value).endswith("must take exactly one input besides self")


def test_positional_only_constructor_parameters_are_refused(unpackable, tmp_path):
    path, module = unpackable
    with pytest.raises(PackagingError) as error:
        package_model("m", module.PositionalOnly(2), path, tmp_path / "store")
    assert str(error.value) == (
        "PositionalOnly.__init__ has positional-only parameters ['width']; make them ordinary "
        "parameters so they can be passed by name"
    )


def test_model_file_that_fails_to_run_is_refused(models, tmp_path):
    _, module = models
    broken = tmp_path / "broken.py"
    broken.write_text("import a_module_the_worker_lacks\n")
    with pytest.raises(PackagingError) as error:
        package_model("m", module.Doubler(2), broken, tmp_path / "store")
    assert str(error.value) == (
        f"running {broken} failed with ModuleNotFoundError: No module named "
        "'a_module_the_worker_lacks'; the archive runs it to rebuild the model, so it must "
        "import cleanly"
    )


@pytest.mark.parametrize("name", ["my model", "-model", "model/v2", ""])
def test_model_names_torchserve_refuses_are_refused(models, tmp_path, name):
    path, module = models
    with pytest.raises(PackagingError) as error:
        package_model(name, module.Doubler(2), path, tmp_path / "store")
    assert str(error.value) == (
        f"model name {name!r} is not allowed by TorchServe; use letters, digits, '_', '-' and "
        "'.', starting with a letter or digit"
    )


def test_missing_files_are_named(models, tmp_path):
    path, module = models
    missing = tmp_path / "vocab.txt"
    named = f"^{re.escape(str(missing))} is not a file; pass an existing file$"
    for arguments in ({"extra_files": [missing]}, {"requirements_file": missing}):
        with pytest.raises(PackagingError, match=named):
            package_model("m", module.Doubler(2), path, tmp_path / "store", **arguments)
    with pytest.raises(PackagingError, match=named):
        package_model("m", module.Doubler(2), missing, tmp_path / "store")


@pytest.mark.parametrize("file_name", ["user-models.py", "user_models.txt", "2models.py"])
def test_model_file_must_be_named_like_a_module(models, tmp_path, file_name):
    path, module = models
    renamed = tmp_path / "renamed" / file_name
    renamed.parent.mkdir()
    shutil.copy(path, renamed)
    with pytest.raises(PackagingError) as error:
        package_model("m", module.Doubler(2), renamed, tmp_path / "store")
    assert str(error.value) == (
        f"model file {renamed} must be a .py file named like a Python module"
    )


@pytest.mark.parametrize("stem", ["numpy", "json"])  # one the worker adds, one of stdlib
def test_model_file_that_would_shadow_a_worker_module_is_refused(models, tmp_path, stem):
    path, module = models
    shadowing = tmp_path / "renamed" / f"{stem}.py"
    shadowing.parent.mkdir()
    shutil.copy(path, shadowing)
    with pytest.raises(PackagingError) as error:
        package_model("m", module.Doubler(2), shadowing, tmp_path / "store")
    assert str(error.value) == (
        f"model file {stem}.py would shadow the module {stem!r} in the TorchServe worker; "
        "rename it"
    )


def test_cli_loader_names_a_missing_file_and_an_absent_class(models, tmp_path):
    path, module = models
    weights = tmp_path / "weights.safetensors"
    named = f"^{re.escape(str(weights))} is not a file; pass an existing file$"
    with pytest.raises(PackagingError, match=named):
        load_model_from_files(path, weights, {"width": 3}, "Doubler")
    from safetensors.torch import save_model

    save_model(module.Doubler(3), str(weights))
    with pytest.raises(PackagingError) as error:
        load_model_from_files(path, weights, {"width": 3}, "Tripler")
    assert str(error.value) == (
        f"class 'Tripler' is not defined in {path} (classes defined there: ['Doubler', "
        "'Forgetful', 'HoldsObject', 'NoPredict']); pass the file that defines the model's class"
    )
