"""Our backbones compute what the public implementations compute (golden vectors from running them).

The golden files hold the public state dict (``state_dict.*``), inputs, outputs and the public config
(metadata ``config``), produced in eval mode in float32 on random weights.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from adanat_cli.models.converters.maskgit import maskgit_from_official
from adanat_cli.models.converters.uvit import uvit_from_official

from .golden import load_golden

ATOL = 1e-5


def uvit_case():
    """(model, tokens, labels, expected logits, expected features or None)."""
    config, state, inputs, outputs = load_golden("uvit_small")
    model = uvit_from_official(state, config)
    labels = inputs["context"][:, 0]  # (B, 1) -> (B,); the public null class is the last row
    return model, inputs["masked_ids"], labels, outputs["logits"], outputs["feat"]


def maskgit_case():
    config, state, inputs, outputs = load_golden("maskgit_small")
    model = maskgit_from_official(state, config)
    tokens = inputs["img_token"].flatten(1)  # (B, g, g) -> (B, N)
    labels = torch.where(inputs["drop_label"].bool(), model.null_class, inputs["y"])
    # the public logits carry the [MASK] column too; ours stop at the real codebook entries
    return model, tokens, labels, outputs["logits"][..., : model.codebook_size], None


CASES = {"uvit": uvit_case, "maskgit": maskgit_case}


@pytest.fixture(params=sorted(CASES))
def case(request):
    return CASES[request.param]()


def test_golden_batch_covers_masks_and_classes_including_null(case):
    model, tokens, labels, _, _ = case
    assert (tokens == model.mask_id).any() and (tokens != model.mask_id).any()
    assert (labels == model.null_class).any()
    assert len(set(labels[labels != model.null_class].tolist())) >= 2


def test_logits_and_features_match_public_implementation(case):
    """Same arithmetic as the public code: SDPA's math kernel orders operations like the explicit
    softmax(q k^T) v of the public models, so the comparison is at the float32 noise floor."""
    model, tokens, labels, logits, features = case
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        out = model(tokens, labels)
    assert out.logits.shape == logits.shape
    assert (out.logits - logits).abs().max().item() <= ATOL
    if features is not None:
        assert (out.features - features).abs().max().item() <= ATOL
    assert out.features.shape == (*tokens.shape, model.feature_dim)
    assert out.cache is None


def test_default_attention_kernel_matches_public_implementation(case):
    """The fused SDPA kernel reorders the sums; logits of size ~25 then differ by float32 rounding
    (measured 8.6e-6 on MaskGIT), so allow a relative term on top of the absolute one."""
    model, tokens, labels, logits, features = case
    with torch.no_grad():
        out = model(tokens, labels)
    torch.testing.assert_close(out.logits, logits, atol=ATOL, rtol=1e-5)
    if features is not None:
        torch.testing.assert_close(out.features, features, atol=ATOL, rtol=1e-5)


def test_maskgit_features_are_what_the_logit_head_reads():
    """MaskGIT's features sit after the final LayerNorm (public ``last_layer[0]``): the logits are
    the rest of ``last_layer`` applied to them, dotted with the embedding table."""
    model, tokens, labels, logits, _ = maskgit_case()
    with torch.no_grad():
        out = model(tokens, labels)
        h = model.head_norm(torch.nn.functional.gelu(model.head_fc(out.features)))
        again = h @ model.tok_emb.weight.t() + model.bias[: tokens.shape[1]]
    torch.testing.assert_close(again[..., : model.codebook_size], out.logits, atol=1e-6, rtol=0)


def test_config_rebuilds_the_same_model(case):
    model, tokens, labels, _, _ = case
    config = json.loads(json.dumps(model.config))  # must survive JSON (config.json in a bundle)
    rebuilt = type(model)(**config).eval()
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(rebuilt(tokens, labels).logits, model(tokens, labels).logits)
    assert rebuilt.grid == model.grid and rebuilt.null_class == model.null_class


def test_backbone_attributes():
    model, *_ = uvit_case()
    assert (model.codebook_size, model.mask_id, model.grid) == (32, 32, (4, 4))
    assert (model.num_classes, model.null_class, model.feature_dim) == (10, 10, 64)
    model, *_ = maskgit_case()
    assert (model.codebook_size, model.mask_id, model.grid) == (32, 32, (4, 4))
    assert (model.num_classes, model.null_class, model.feature_dim) == (10, 10, 64)


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "module._orig_mod."])
def test_wrapper_prefixes_are_stripped(prefix):
    config, state, inputs, outputs = load_golden("uvit_small")
    model = uvit_from_official({prefix + k: v for k, v in state.items()}, config)
    with torch.no_grad():
        out = model(inputs["masked_ids"], inputs["context"][:, 0])
    torch.testing.assert_close(out.logits, outputs["logits"], atol=ATOL, rtol=1e-5)

    config, state, _, _ = load_golden("maskgit_small")
    model = maskgit_from_official({prefix + k: v for k, v in state.items()}, config)
    assert model.tok_emb.weight.data_ptr() == state["tok_emb.weight"].data_ptr()  # assigned, not copied


def test_eval_mode_output_is_deterministic(case):
    """Dropout exists for training only: the converters hand back eval-mode models."""
    model, tokens, labels, _, _ = case
    assert not model.training
    with torch.no_grad():
        assert torch.equal(model(tokens, labels).logits, model(tokens, labels).logits)
