"""Logits only where sampling reads them: every built-in backbone runs its MLM head on the masked
positions alone (``logit_rows``), with the same values as the full head, and the engine gives the same
tokens whether a backbone supports it or not."""

from __future__ import annotations

import math

import pytest
import torch

from adanat_cli.architectures.enat import ENAT
from adanat_cli.architectures.maskgit import MaskGITTransformer
from adanat_cli.architectures.uvit import UViT
from adanat_cli.architectures.uvit_text import UViTText
from adanat_cli.engine.loop import decode, sample_seed
from adanat_cli.registry import registry
from adanat_cli.schedulers.base import Scheduler
from adanat_cli.schedulers.state import GenerationState, StepPlan

SHAPES = {"codebook_size": 32, "grid_size": 4, "dim": 32, "num_heads": 2, "dropout": 0.0}


def _backbones():
    return {
        "uvit": (UViT(**SHAPES, num_classes=10, depth=2), torch.tensor([1, 5, 10])),
        "uvit-text": (UViTText(**SHAPES, depth=2, context_dim=8, context_length=3), torch.randn(3, 3, 8)),
        "enat": (ENAT(**SHAPES, num_classes=10, encoder_depth=1, decoder_depth=1), torch.tensor([1, 5, 10])),
        "maskgit": (MaskGITTransformer(**SHAPES, num_classes=10, depth=1, mlp_dim=64), torch.tensor([1, 5, 10])),
    }


@pytest.mark.parametrize("name", ["uvit", "uvit-text", "enat", "maskgit"])
def test_the_head_at_some_rows_gives_those_rows_of_the_full_head(name):
    torch.manual_seed(0)
    backbone, cond = _backbones()[name]
    backbone.eval()
    assert backbone.supports_logit_rows
    tokens = torch.randint(0, 32, (3, 16))
    tokens[torch.rand(3, 16) < 0.6] = backbone.mask_id
    rows = (tokens == backbone.mask_id).flatten().nonzero().squeeze(1)
    with torch.inference_mode():
        full = backbone(tokens, cond)
        some = backbone(tokens, cond, logit_rows=rows)
    assert some.logits.shape == (rows.numel(), 32)
    torch.testing.assert_close(some.logits, full.logits.reshape(-1, 32)[rows], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(some.features, full.features)


class _FullHeadOnly(torch.nn.Module):
    """The same U-ViT seen as a backbone without ``logit_rows``: the engine selects the rows itself."""

    supports_logit_rows = False

    def __init__(self, inner: UViT):
        super().__init__()
        self.inner = inner

    def forward(self, tokens, labels, cache=None):
        return self.inner(tokens, labels)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)


class _FeatureReader(Scheduler):
    """Plans after the forward, from the features, with a guidance of its own per sample."""

    name = "feature-reader-test"
    uses_features = True

    def plan(self, state: GenerationState) -> StepPlan:
        assert state.logits.shape == (int(state.mask.sum()), 32)  # the masked rows only
        r = math.cos(math.pi / 2 * (state.step + 1) / state.steps)
        plan = StepPlan.constant(state.batch, r, 1.0, 2.0, 0.0, state.device)
        plan.guidance = state.features.mean(dim=(1, 2)).abs() * 50  # differs per sample
        return plan


@pytest.mark.parametrize("scheduler", ["cosine", "features"])
def test_decoding_is_the_same_with_and_without_the_head_at_masked_rows(scheduler):
    torch.manual_seed(0)
    backbone = UViT(**SHAPES, num_classes=10, depth=2).eval()
    labels, seeds = torch.tensor([0, 3, 7, 9]), [sample_seed(1, i) for i in range(4)]

    def run(model):
        made = registry.get("schedulers", "cosine")(guidance=1.0) if scheduler == "cosine" else _FeatureReader()
        return decode(model, made, labels, 4, seeds, trace=True)

    rows = run(backbone)
    full = run(_FullHeadOnly(backbone))
    assert torch.equal(rows.tokens, full.tokens)
    assert torch.equal(rows.masks, full.masks)
    assert rows.masks[:, 1].sum() < rows.masks[:, 0].sum()  # tokens were revealed along the way
