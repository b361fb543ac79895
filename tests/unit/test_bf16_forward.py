"""The bf16 save mode's forward: a copy with bf16 Linear weights, every other tensor shared
with the fp32 model, answering as autocast over the fp32 model does."""

import torch
from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification

from nlp_runtime.hf.model import bf16_forward, bf16_linear_copy
from tests.runtime_models import QA, tiny_classifier, tiny_model


def features(vocab_size: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab_size, (3, 11), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def test_linear_weights_are_bf16_and_everything_else_is_shared(tmp_path):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier(tmp_path)).eval()
    runner = bf16_linear_copy(model)
    fp32 = dict(model.named_parameters())
    for name, parameter in runner.named_parameters():
        linear = isinstance(runner.get_submodule(name.rsplit(".", 1)[0]), torch.nn.Linear)
        assert parameter.dtype == (torch.bfloat16 if linear else torch.float32), name
        assert (parameter.data_ptr() == fp32[name].data_ptr()) is not linear, name
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the eager model


def test_answers_as_autocast_over_the_fp32_model(tmp_path):
    for auto_class, directory, outputs in [
        (AutoModelForSequenceClassification, tiny_classifier(tmp_path / "seq"), ("logits",)),
        (AutoModelForQuestionAnswering, tiny_model(QA, tmp_path / "qa"),
         ("start_logits", "end_logits")),
    ]:
        model = auto_class.from_pretrained(directory).eval()
        batch = features(model.config.vocab_size)
        with torch.inference_mode():
            got = bf16_forward(model, outputs)(batch)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                result = model(**batch)
        expected = tuple(result[name].float() for name in outputs)
        assert all(g.dtype == torch.float32 for g in got)
        for g, e in zip(got, expected, strict=True):
            torch.testing.assert_close(g, e, rtol=0, atol=1e-6)
