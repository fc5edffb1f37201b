"""--precision and --compile: resolved per device, applied to the networks only, plumbed through
every command, and never a reason for an image to depend on its batch."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from adanat_cli.architectures.base import BackboneOutput
from adanat_cli.engine.loop import decode, sample_seed
from adanat_cli.engine.precision import compiled, compiled_graphs, resolve_precision
from adanat_cli.engine.sampling import generate_images
from adanat_cli.errors import UsageError
from adanat_cli.models.resolve import load_model
from adanat_cli.registry import registry
from adanat_cli.schedulers.base import Scheduler
from adanat_cli.schedulers.state import GenerationState, StepPlan

from .fakes import ToyBackbone, toy_model


class Guided(Scheduler):
    name = "guided-test"

    def __init__(self, guidance: float = 1.0):
        pass

    def plan(self, state: GenerationState) -> StepPlan:
        r = math.cos(math.pi / 2 * (state.step + 1) / state.steps)
        return StepPlan.constant(state.batch, r, 1.0, 1.0, self.config["guidance"], state.device)


class AutocastSpy(ToyBackbone):
    """Records the autocast state each forward ran under, and checks the logits it hands back."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.autocast: list[tuple[bool, torch.dtype]] = []

    def forward(self, tokens, labels, cache=None):
        self.autocast.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return super().forward(tokens, labels, cache)


def test_auto_is_fp32_on_a_cpu_and_unknown_names_are_refused():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(UsageError, match="--precision must be one of auto, fp32, bf16, fp16"):
        resolve_precision("fp64", "cpu")


@pytest.mark.parametrize("precision, expected", [("fp32", None), ("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_the_backbone_runs_in_the_precision_asked_for(precision, expected):
    torch.manual_seed(0)
    backbone = AutocastSpy().eval()
    result = decode(backbone, Guided(), torch.arange(4) % 3, 4, [sample_seed(0, i) for i in range(4)],
                    precision=precision)
    assert result.tokens.max() < backbone.codebook_size
    enabled = {e for e, _ in backbone.autocast}
    if expected is None:
        assert enabled == {False}
    else:
        assert enabled == {True} and {d for _, d in backbone.autocast} == {expected}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_an_image_does_not_depend_on_its_batch_in_any_precision(precision):
    backbone = toy_model(side=4)
    labels = torch.arange(9) % 3
    seeds = [sample_seed(5, i) for i in range(9)]
    together = decode(backbone, Guided(), labels, 4, seeds, precision=precision).tokens
    alone = torch.cat([decode(backbone, Guided(), labels[i : i + 1], 4, seeds[i : i + 1], precision=precision).tokens
                       for i in range(9)])
    assert torch.equal(together, alone)


@pytest.mark.parametrize("model", ["tiny-mnist", "tiny-mnist-enat"])
def test_bundled_models_in_bf16_are_batch_size_invariant_and_close_to_fp32(model, one_thread):
    bundle = load_model(model, device="cpu")
    scheduler = registry.get("schedulers", "cosine")(**bundle.scheduler_defaults("cosine", 8))
    labels = [i % 10 for i in range(24)]
    big = generate_images(bundle, scheduler, labels, 8, seed=3, batch_size=24, precision="bf16")
    small = generate_images(bundle, scheduler, labels, 8, seed=3, batch_size=5, precision="bf16")
    assert big.precision == "bf16"
    assert torch.equal(big.tokens, small.tokens)
    fp32 = generate_images(bundle, scheduler, labels, 8, seed=3, batch_size=24, precision="fp32")
    # Rounding moves some tokens, and a moved token changes what follows; the images stay digits of
    # the same kind: mean pixel difference well below that between two different seeds.
    other_seed = generate_images(bundle, scheduler, labels, 8, seed=4, batch_size=24, precision="fp32")
    assert (big.images - fp32.images).abs().mean() < 0.75 * (other_seed.images - fp32.images).abs().mean()


class Plain(ToyBackbone):
    """The toy backbone without its call log (a Python side effect that pins every batch size)."""

    def forward(self, tokens, labels, cache=None):
        x = self.tok(tokens) + self.pos + self.cls(labels)[:, None, :]
        x = x + torch.tanh(self.mix(x.mean(dim=1, keepdim=True)))
        return BackboneOutput(logits=self.head(x) * 3.0, features=x)


@pytest.mark.skipif(not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                    reason="torch.compile on a CPU (Inductor) needs a C++ compiler")
def test_compiled_backbone_gives_valid_tokens_and_reports_its_compile_time_once(one_thread):
    torch._dynamo.reset()
    torch.manual_seed(0)
    backbone = Plain().eval()
    bundle = type("Bundle", (), {})()
    from .fakes import ToyTokenizer

    bundle.backbone, bundle.tokenizer = backbone, ToyTokenizer().eval()
    labels = [i % 3 for i in range(10)]
    eager = generate_images(bundle, Guided(), labels, 4, seed=1, batch_size=4)
    first = generate_images(bundle, Guided(), labels, 4, seed=1, batch_size=4, compile=True)
    graphs = compiled_graphs()
    # batches of 4 then a partial 2 (8 and 4 rows with the uncond half): the batch dimension became
    # dynamic in the backbone and the decoder's last batch was padded, so another partial batch (3)
    # and the same batches again cost no new graph and no compile time
    again = generate_images(bundle, Guided(), labels[:7], 4, seed=1, batch_size=4, compile=True)
    assert first.compile_seconds > 0 and again.compile_seconds == 0
    assert compiled_graphs() == graphs and graphs <= 4
    assert torch.equal(first.tokens[:7], again.tokens)
    assert (first.tokens == eager.tokens).float().mean() > 0.9  # fused kernels may round differently
    assert compiled(backbone) is compiled(backbone)


def test_every_generating_command_accepts_and_applies_precision(cli, tmp_path, monkeypatch, one_thread):
    out = tmp_path / "s"
    result = cli("sample", "--class", "3", "-n", "2", "--precision", "bf16", "--out", str(out), "--device", "cpu")
    assert result.code == 0, result.err
    assert json.loads((out / "samples.json").read_text())["precision"] == "bf16"

    report = tmp_path / "c"
    result = cli("compare", "-s", "cosine", "-T", "4", "-n", "20", "-b", "10", "--precision", "bf16", "--out",
                 str(report), "--device", "cpu")
    assert result.code == 0, result.err
    assert json.loads((report / "report.json").read_text())["precision"] == "bf16"

    result = cli("fid", str(out), "--stats", "tiny-mnist", "-x", "tiny-mnist", "--precision", "bf16", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["extractor_precision"] == "bf16"

    seen = []

    def fake_pair(*args, precision="fp32", compile=False, **kwargs):
        seen.append((precision, compile))
        return type("Pair", (), {"fid": 10.0, "alignment": None})()  # a class model: no caption alignment

    monkeypatch.setattr("adanat_cli.cli.search_schedule.evaluate_pair", fake_pair)
    result = cli("search-schedule", "-T", "2", "--updates", "1", "-n", "10", "--precision", "bf16", "--compile",
                 "-o", str(tmp_path / "s.json"), "--device", "cpu")
    assert result.code == 0, result.err
    assert set(seen) == {("bf16", True)}

    result = cli("sample", "--class", "3", "--precision", "fp64", "--out", str(tmp_path / "x"))
    assert result.code == 2 and result.err.count("\n") == 1 and "fp64" in result.err


@pytest.mark.skipif(not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                    reason="torch.compile on a CPU (Inductor) needs a C++ compiler")
def test_a_compiled_forward_follows_its_weights_when_they_change(one_thread):
    """Generation compiles with freezing (weights become graph constants); a weight changed afterwards
    must not leave a graph computing with the old one."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4)).eval()
    x = torch.randn(3, 8)
    forward = compiled(module)
    with torch.inference_mode():
        torch.testing.assert_close(forward(x), module(x))
        with torch.no_grad():
            module[0].weight.mul_(2.0)  # in place
        torch.testing.assert_close(forward(x), module(x))
        module.load_state_dict({k: torch.randn_like(v) for k, v in module.state_dict().items()}, assign=True)
        torch.testing.assert_close(forward(x), module(x))  # new tensors


@pytest.mark.skipif(not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                    reason="torch.compile on a CPU (Inductor) needs a C++ compiler")
def test_a_compiled_uvit_settles_on_a_few_graphs_as_masked_rows_and_batches_vary(one_thread):
    """The head's row count changes every step and the first step runs fewer rows: each varying
    dimension costs one recompile as dynamic, then no more graphs, whatever the batch."""
    from adanat_cli.architectures.uvit import UViT

    from .fakes import ToyTokenizer

    torch._dynamo.reset()
    torch.manual_seed(0)
    bundle = type("Bundle", (), {})()
    bundle.backbone = UViT(codebook_size=16, num_classes=3, grid_size=4, dim=16, depth=2, num_heads=2).eval()
    bundle.tokenizer = ToyTokenizer().eval()
    labels = [i % 3 for i in range(10)]
    before = compiled_graphs()
    first = generate_images(bundle, Guided(), labels, 4, seed=1, batch_size=4, precision="bf16", compile=True)
    graphs = compiled_graphs()
    assert graphs - before <= 3  # the backbone, again with dynamic rows and batch; the decoder
    # another batch size: the backbone has seen it all; the decoder's batch turns dynamic once
    generate_images(bundle, Guided(), labels[:7], 4, seed=1, batch_size=3, precision="bf16", compile=True)
    assert compiled_graphs() <= graphs + 1
    graphs = compiled_graphs()
    again = generate_images(bundle, Guided(), labels[:7], 4, seed=1, batch_size=5, precision="bf16", compile=True)
    assert compiled_graphs() == graphs and again.compile_seconds == 0
    assert torch.equal(first.tokens[:7], again.tokens)
