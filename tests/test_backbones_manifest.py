"""The converters accept exactly the keys and shapes of the full-size public checkpoints.

``checkpoint_manifests.json`` lists every key and shape of the real files; we build meta tensors
of those shapes, so nothing is allocated, and check that a broken file is reported by key.
"""

from __future__ import annotations

import json

import pytest
import torch

from adanat_cli.errors import ConversionError
from adanat_cli.models.converters.maskgit import (
    infer_maskgit_config,
    maskgit_config_from_official,
    maskgit_from_official,
)
from adanat_cli.models.converters.uvit import infer_uvit_config, uvit_from_official

from .golden import golden_file

# The published configs: AdaNAT configs/imagenet_256_AdaNAT_L.yaml (``nnet``, same as ImprovedNAT
# configs/AutoNAT_L.yaml) and MaskGIT-pytorch's README table / Trainer/vit.py for ImageNet 256.
UVIT_L = dict(img_size=16, codebook_size=1024, embed_dim=768, depth=24, num_heads=8, mlp_ratio=4,
              qkv_bias=False, num_classes=1001, skip=True)
MASKGIT_256 = dict(img_size=256, hidden_dim=768, codebook_size=1024, depth=24, heads=16,
                   mlp_dim=3072, dropout=0.1, nclass=1000)

FAMILIES = {
    "uvit": ("adanat_imagenet256_uvit_L_nnet", uvit_from_official, infer_uvit_config),
    "maskgit": ("maskgit_pytorch_imagenet256_model_state_dict", maskgit_from_official,
                infer_maskgit_config),
}


def meta_state_dict(name: str) -> dict[str, torch.Tensor]:
    shapes = json.loads(golden_file("checkpoint_manifests.json").read_text())[name]
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


@pytest.fixture(params=sorted(FAMILIES))
def family(request):
    name, convert, infer = FAMILIES[request.param]
    state = meta_state_dict(name)
    return convert, state, infer(state)


def test_inferred_configs_are_the_published_ones():
    assert infer_uvit_config(meta_state_dict(FAMILIES["uvit"][0])) == UVIT_L
    inferred = infer_maskgit_config(meta_state_dict(FAMILIES["maskgit"][0]))
    assert maskgit_config_from_official(inferred) == maskgit_config_from_official(MASKGIT_256)


def test_full_size_checkpoint_converts_on_meta(family):
    convert, state, config = family
    with torch.device("meta"):
        model = convert(state, config)
    ours = model.state_dict()
    assert len(ours) == len(state)  # every public key consumed, one-to-one
    assert all(t.is_meta for t in ours.values())
    assert model.feature_dim == 768 and model.grid == (16, 16)
    assert (model.codebook_size, model.num_classes, model.null_class) == (1024, 1000, 1000)
    tokens = torch.full((2, 256), model.mask_id, device="meta")
    labels = torch.tensor([3, model.null_class], device="meta")
    with torch.no_grad():
        out = model(tokens, labels)
    assert out.logits.shape == (2, 256, 1024) and out.features.shape == (2, 256, 768)


def pick_key(state: dict) -> str:
    """A block key in the middle of the file, so the test is not about the first or last entry."""
    keys = sorted(k for k in state if "blocks.5." in k or "layers.5." in k)
    return keys[len(keys) // 2]


def test_missing_key_is_named(family):
    convert, state, config = family
    key = pick_key(state)
    del state[key]
    with pytest.raises(ConversionError, match="missing key '" + key.replace(".", r"\.") + "'"):
        convert(state, config)


def test_unexpected_key_is_named(family):
    convert, state, config = family
    state["decoder.extra.weight"] = torch.empty(3, device="meta")
    with pytest.raises(ConversionError, match=r"unexpected key 'decoder\.extra\.weight'"):
        convert(state, config)


def test_wrong_shape_is_named(family):
    convert, state, config = family
    key = pick_key(state)
    state[key] = torch.empty(7, 5, device="meta")
    with pytest.raises(ConversionError, match=r"key '" + key.replace(".", r"\.") + r"' has shape \(7, 5\)"):
        convert(state, config)


def test_keys_under_wrappers_are_accepted_and_errors_name_the_file_key(family):
    convert, state, config = family
    wrapped = {"module._orig_mod." + k: v for k, v in state.items()}
    convert(wrapped, config)
    wrapped["module.head.weight"] = torch.empty(3, device="meta")
    with pytest.raises(ConversionError, match=r"unexpected key 'module\.head\.weight'"):
        convert(wrapped, config)


def test_config_that_does_not_fit_the_weights_is_reported(family):
    convert, state, config = family
    wrong = dict(config)
    wrong["depth"] = config["depth"] - 2  # fewer blocks than the file has
    with pytest.raises(ConversionError, match="unexpected key"):
        convert(state, wrong)


@pytest.mark.parametrize("infer,keys,positions", [
    ("uvit", ["token_emb.word_embeddings.weight", "token_emb.position_embeddings.weight",
              "context_embed.word_embeddings.weight", "mid_block.mlp.fc1.weight"], "token_emb.position_embeddings.weight"),
    ("enat", ["x_embedder.word_embeddings.weight", "x_embedder.position_embeddings.weight",
              "y_embedder.embedding_table.weight", "blocks.0.mlp.fc1.weight"], "x_embedder.position_embeddings.weight"),
])
def test_config_inference_names_a_missing_key_and_refuses_a_non_square_grid(infer, keys, positions):
    from adanat_cli.models.converters.enat import infer_enat_config

    infer_config = {"uvit": infer_uvit_config, "enat": infer_enat_config}[infer]
    state = {k: torch.zeros(8, 4) for k in keys}
    state[positions] = torch.zeros(10, 4)  # 10 positions: no square grid
    with pytest.raises(ConversionError, match="10 position embeddings do not form a square grid"):
        infer_config(state)
    del state[keys[-1]]
    with pytest.raises(ConversionError, match=f"missing key '{keys[-1]}'"):
        infer_config(state)
