"""The text-conditioned U-ViT (MUSE/AdaNAT ``uvit_t2i_vq``) and its converter.

Golden vectors come from running the public ``libs/uvit.py`` with ``num_classes=None`` (random weights,
eval mode, float32); the manifest lists every key and shape of MUSE's CC3M checkpoint
(``cc3m-285000.ckpt/nnet_ema.pth``), converted here on the meta device.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from adanat_cli.architectures.base import attention_flops
from adanat_cli.architectures.clip_text import CLIPText
from adanat_cli.architectures.uvit import UViT
from adanat_cli.architectures.uvit_text import UViTText
from adanat_cli.architectures.vqgan import VQGANJax
from adanat_cli.errors import ConversionError, UsageError
from adanat_cli.models.bundle import load_bundle, save_bundle
from adanat_cli.models.convert import uvit_t2i_from_official
from adanat_cli.models.converters.uvit_text import (
    infer_uvit_t2i_config,
    uvit_t2i_config_from_official,
)
from adanat_cli.models.formats import format_names

from .golden import golden_file, load_golden

ATOL = 1e-5
MANIFEST = "muse_cc3m_t2i_uvit_nnet_ema(cc3m-285000)"
# AdaNAT configs/cc3m_AdaNAT_muse.yaml, ``nnet`` (REFERENCE §4b)
CC3M = {"img_size": 16, "codebook_size": 1024, "embed_dim": 1152, "depth": 28, "num_heads": 16, "mlp_ratio": 4,
        "qkv_bias": False, "clip_dim": 1280, "num_clip_token": 77, "skip": True, "num_classes": None}


@pytest.fixture(scope="module")
def golden():
    return load_golden("uvit_t2i_small")


@pytest.fixture(scope="module")
def model(golden):
    config, state, _, _ = golden
    return uvit_t2i_from_official(state, config)


def meta_manifest() -> dict[str, torch.Tensor]:
    shapes = json.loads(golden_file("checkpoint_manifests.json").read_text())[MANIFEST]
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


def test_golden_batch_covers_masked_and_visible_tokens(golden, model):
    _, _, inputs, _ = golden
    tokens = inputs["masked_ids"]
    assert (tokens == model.mask_id).any() and (tokens != model.mask_id).any()
    assert inputs["context"].shape == (tokens.shape[0], 77, model.context_dim)


def test_logits_and_features_match_public_implementation(golden, model):
    _, _, inputs, outputs = golden
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        out = model(inputs["masked_ids"], inputs["context"])
    assert out.logits.shape == outputs["logits"].shape and out.features.shape == outputs["feat"].shape
    assert (out.logits - outputs["logits"]).abs().max().item() <= ATOL
    assert (out.features - outputs["feat"]).abs().max().item() <= ATOL
    assert out.cache is None
    with torch.no_grad():  # the fused kernel reorders sums: float32 rounding only
        fused = model(inputs["masked_ids"], inputs["context"])
    torch.testing.assert_close(fused.logits, outputs["logits"], atol=ATOL, rtol=1e-5)
    torch.testing.assert_close(fused.features, outputs["feat"], atol=ATOL, rtol=1e-5)


def test_attributes_and_config(golden, model):
    config, _, _, _ = golden
    assert model.conditioning == "text" and UViT.conditioning == "class"
    assert (model.codebook_size, model.mask_id, model.grid, model.feature_dim) == (32, 32, (4, 4), 64)
    assert (model.num_classes, model.context_dim, model.context_length) == (0, 48, 77)
    assert not model.training
    assert model.config == {"codebook_size": 32, "grid_size": 4, "dim": 64, "depth": 4, "num_heads": 4,
                            "mlp_ratio": 4.0, "qkv_bias": False, "skip": True, "dropout": 0.1,
                            "context_dim": 48, "context_length": 77}
    assert uvit_t2i_config_from_official(config) == {k: v for k, v in model.config.items() if k != "dropout"}


def test_wrappers_and_position_ids_are_dropped(golden):
    config, state, inputs, outputs = golden
    wrapped = {"module." + k: v for k, v in state.items()}
    wrapped["module.token_emb.position_ids"] = torch.arange(16)[None]
    wrapped["context_embed.position_ids"] = torch.arange(77)[None]
    model = uvit_t2i_from_official(wrapped, config)
    assert model.context_embed.weight.data_ptr() == state["context_embed.weight"].data_ptr()  # assigned
    with torch.no_grad():
        out = model(inputs["masked_ids"], inputs["context"])
    torch.testing.assert_close(out.logits, outputs["logits"], atol=ATOL, rtol=1e-5)


def test_full_size_cc3m_checkpoint_converts_on_meta():
    state = meta_manifest()
    config = infer_uvit_t2i_config(state)
    assert config == CC3M
    state["token_emb.position_ids"] = torch.empty(1, 256, dtype=torch.long, device="meta")
    model = uvit_t2i_from_official(state, config)
    ours = model.state_dict()
    assert len(ours) == len(state) - 1  # every key but position_ids consumed, one-to-one
    assert all(t.is_meta for t in ours.values())
    assert tuple(model.context_embed.weight.shape) == (1152, 1280)
    assert (len(model.in_blocks), len(model.out_blocks)) == (14, 14)
    assert (model.codebook_size, model.grid, model.feature_dim, model.num_classes) == (1024, (16, 16), 1152, 0)
    tokens = torch.full((2, 256), model.mask_id, device="meta")
    context = torch.empty(2, 77, 1280, device="meta")
    with torch.no_grad():
        out = model(tokens, context)
    assert out.logits.shape == (2, 256, 1024) and out.features.shape == (2, 256, 1152)


def test_missing_misshaped_and_unexpected_keys_are_named():
    config = dict(CC3M)
    for key in ("in_blocks.5.mlp.fc1.weight", "context_embed.bias"):
        state = meta_manifest()
        del state[key]
        with pytest.raises(ConversionError, match="missing key '" + key.replace(".", r"\.") + "'"):
            uvit_t2i_from_official(state, config)
    state = meta_manifest()
    state["context_embed.weight"] = torch.empty(1152, 768, device="meta")  # a CLIP-L sized projection
    with pytest.raises(ConversionError, match=r"key 'context_embed\.weight' has shape \(1152, 768\)"):
        uvit_t2i_from_official(state, config)
    state = meta_manifest()
    state["context_embed.word_embeddings.weight"] = torch.empty(1001, 1152, device="meta")
    with pytest.raises(ConversionError, match=r"unexpected key 'context_embed\.word_embeddings\.weight'"):
        uvit_t2i_from_official(state, config)


def test_class_conditional_config_and_missing_clip_dim_are_refused():
    state = meta_manifest()
    with pytest.raises(ConversionError, match="class-conditional"):
        uvit_t2i_from_official(state, {**CC3M, "num_classes": 1001})
    with pytest.raises(ConversionError, match="'clip_dim'"):
        uvit_t2i_from_official(state, {k: v for k, v in CC3M.items() if k != "clip_dim"})


def test_native_config_inference_and_import_format(model):
    inferred = UViTText.infer_config(model.state_dict(), num_heads=4)
    assert inferred == {k: v for k, v in model.config.items() if k != "dropout"}
    assert "uvit-text" in format_names()
    with pytest.raises(ConversionError, match="missing key 'context_embed.weight'"):
        UViTText.infer_config({k: v for k, v in model.state_dict().items() if not k.startswith("context_embed.")})


def test_context_of_the_wrong_shape_or_dtype(golden, model):
    _, _, inputs, _ = golden
    tokens, context = inputs["masked_ids"], inputs["context"]
    with pytest.raises(UsageError, match=r"\(B, L, 48\) contexts"):
        model(tokens, torch.zeros(3, dtype=torch.long))  # class labels given to a text model
    with torch.no_grad():
        ref = model(tokens, context).logits
        torch.testing.assert_close(model(tokens, context.double()).logits, ref)  # cast to the weights' dtype
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(tokens, context.bfloat16())
    assert low.logits.shape == ref.shape and torch.isfinite(low.logits).all()
    # any context length runs; the outputs always cover the N image tokens only
    with torch.no_grad():
        assert model(tokens, context[:, :5]).logits.shape == ref.shape


def test_forward_flops_count_the_context_tokens():
    dim, ctx_dim, ctx, side, vocab, depth = 32, 24, 7, 4, 64, 4
    model = UViTText(codebook_size=vocab, grid_size=side, dim=dim, depth=depth, num_heads=2,
                     context_dim=ctx_dim, context_length=ctx)
    n = side * side
    s = n + ctx  # every block sees the N image tokens and the L context tokens
    block = 2 * s * dim * (3 * dim + dim + 2 * 4 * dim) + attention_flops(s, s, dim)
    skip = 2 * s * (2 * dim) * dim
    head = 2 * n * dim * dim + 2 * n * dim * vocab
    expected = 2 * ctx * ctx_dim * dim + (depth + 1) * block + (depth // 2) * skip + head
    flops = model.forward_flops(torch.ones(3, n, dtype=torch.bool))
    assert flops.dtype == torch.int64 and flops.tolist() == [expected] * 3
    assert model.counts_flops and expected > 0
    longer = UViTText(codebook_size=vocab, grid_size=side, dim=dim, depth=depth, num_heads=2,
                      context_dim=ctx_dim, context_length=ctx + 10)
    assert longer.forward_flops(torch.ones(1, n, dtype=torch.bool))[0] > expected


def test_bundle_round_trip_with_no_classes(tmp_path):
    torch.manual_seed(0)
    backbone = UViTText(codebook_size=64, grid_size=4, dim=32, depth=2, num_heads=2, dropout=0.0,
                        context_dim=16, context_length=5).eval()
    tokenizer = VQGANJax(ch=32, ch_mult=[1, 1, 2], num_res_blocks=1, z_channels=8, codebook_size=64).eval()
    encoder = CLIPText(width=16, layers=1, heads=2, context_length=5, projection_dim=8).eval()
    path = save_bundle(tmp_path / "t2i", "tiny-t2i", backbone, tokenizer, classes=[],
                       recommended={"scheduler": "cosine", "steps": 4}, text_encoder=encoder)
    bundle = load_bundle(path)
    assert bundle.config["backbone"] == {"type": "uvit-text", "config": backbone.config}
    assert bundle.classes == [] and isinstance(bundle.backbone, UViTText)
    assert (bundle.backbone.context_length, bundle.backbone.context_dim) == (5, 16)
    ids = torch.tensor([[49406, 320, 1929, 49407, 0], [49406, 49407, 0, 0, 0]])
    with torch.no_grad():
        context = bundle.text_encoder(ids).context
        torch.testing.assert_close(context, encoder(ids).context, atol=0, rtol=0)
        tokens = torch.randint(0, 65, (2, 16))
        assert torch.equal(bundle.backbone(tokens, context).logits, backbone(tokens, context).logits)
