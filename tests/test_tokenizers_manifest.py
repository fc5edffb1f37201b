"""The VQGAN converters accept the full-size public checkpoints key for key, and name what is wrong.

``checkpoint_manifests.json`` lists every key and shape of the real checkpoints. We build meta
tensors of those shapes (no memory) and convert them under ``torch.device("meta")`` with the
ddconfigs the checkpoints were published with.
"""

from __future__ import annotations

import json

import pytest
import torch

from adanat_cli.architectures.vqgan import VQGANJax, VQGANTaming
from adanat_cli.errors import ConversionError
from adanat_cli.models.converters.vqgan import (
    vqgan_jax_from_official,
    vqgan_jax_kwargs,
    vqgan_taming_from_official,
)

from .golden import golden_file

# MAGE config/vqgan.yaml (vqgan_jax_strongaug.ckpt); the jax port ignores attn_resolutions
MAGE_DDCONFIG = {
    "double_z": False,
    "z_channels": 256,
    "resolution": 256,
    "in_channels": 3,
    "out_ch": 3,
    "ch": 128,
    "ch_mult": [1, 1, 2, 2, 4],
    "num_res_blocks": 2,
    "attn_resolutions": [16],
    "dropout": 0.0,
}
# taming-transformers ImageNet f16-1024 (MaskGIT-pytorch pretrained_maskgit/VQGAN/model.yaml)
TAMING_DDCONFIG = dict(MAGE_DDCONFIG)
TAMING_EMBED_DIM = 256
N_EMBED = 1024


def _manifest(name: str) -> dict[str, torch.Tensor]:
    path = golden_file("checkpoint_manifests.json")
    shapes = json.loads(path.read_text())[name]
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


@pytest.fixture
def mage_state():
    return _manifest("mage_vqgan_jax_strongaug_f16")


@pytest.fixture
def taming_state():
    return _manifest("taming_vqgan_imagenet_f16_1024_state_dict")


def _convert_jax(state, **kwargs):
    with torch.device("meta"):
        return vqgan_jax_from_official(state, MAGE_DDCONFIG, N_EMBED, **kwargs)


def _convert_taming(state, **kwargs):
    with torch.device("meta"):
        return vqgan_taming_from_official(state, TAMING_DDCONFIG, N_EMBED, TAMING_EMBED_DIM, **kwargs)


CONVERTERS = {"mage": _convert_jax, "taming": _convert_taming}


@pytest.fixture(params=sorted(CONVERTERS))
def checkpoint(request, mage_state, taming_state):
    state = {"mage": mage_state, "taming": taming_state}[request.param]
    return CONVERTERS[request.param], state


def test_mage_vqgan_converts_key_for_key(mage_state):
    model = _convert_jax(mage_state)
    assert type(model) is VQGANJax
    assert set(model.state_dict()) == set(mage_state)
    assert all(p.is_meta for p in model.parameters())
    assert model.downsample == 16 and model.codebook_size == 1024


def test_taming_vqgan_converts_key_for_key(taming_state):
    model = _convert_taming(taming_state)
    assert type(model) is VQGANTaming
    assert set(model.state_dict()) == set(taming_state)
    assert all(p.is_meta for p in model.parameters())
    assert model.downsample == 16 and model.codebook_size == 1024


def test_jax_port_has_no_attention_whatever_attn_resolutions_says(mage_state):
    assert not any(".attn" in key for key in mage_state)
    assert vqgan_jax_kwargs(MAGE_DDCONFIG, N_EMBED) == vqgan_jax_kwargs(
        {**MAGE_DDCONFIG, "attn_resolutions": []}, N_EMBED
    )


def test_missing_key_is_named(checkpoint):
    convert, state = checkpoint
    key = "decoder.up.1.block.0.nin_shortcut.weight"
    del state[key]
    with pytest.raises(ConversionError, match=f"missing key '{key}'"):
        convert(state)


def test_unexpected_key_is_named(checkpoint):
    convert, state = checkpoint
    key = "encoder.down.0.downsample.extra.weight"
    state[key] = torch.empty(3, device="meta")
    with pytest.raises(ConversionError, match=f"unexpected key '{key}'"):
        convert(state)


def test_wrong_shape_is_named(checkpoint):
    convert, state = checkpoint
    key = "quantize.embedding.weight"
    state[key] = torch.empty(1024, 255, device="meta")
    with pytest.raises(ConversionError, match=f"key '{key}' has shape \\(1024, 255\\)"):
        convert(state)


def test_taming_drops_loss_keys_of_training_checkpoints(taming_state):
    key = "loss.discriminator.main.0.weight"
    taming_state[key] = torch.empty(64, 3, 4, 4, device="meta")
    assert set(_convert_taming(taming_state).state_dict()) == set(taming_state) - {key}
    with pytest.raises(ConversionError, match=f"unexpected key '{key}'"):
        _convert_taming(taming_state, drop_prefixes=())


def test_jax_converter_drops_nothing_by_default(mage_state):
    key = "loss.discriminator.main.0.weight"
    mage_state[key] = torch.empty(64, 3, 4, 4, device="meta")
    with pytest.raises(ConversionError, match=f"unexpected key '{key}'"):
        _convert_jax(mage_state)


def test_ddconfig_codebook_settings_may_be_strings(taming_state):
    with torch.device("meta"):
        model = vqgan_taming_from_official(taming_state, TAMING_DDCONFIG, "1024", "256")
    assert model.config["codebook_size"] == 1024 and model.config["embed_dim"] == 256


@pytest.mark.parametrize(
    "change, message",
    [
        ({"double_z": True}, "double_z"),
        ({"ch_mult": None}, "ch_mult"),
        ({"block_type": "conv"}, "block_type"),
    ],
)
def test_unbuildable_ddconfig_is_a_conversion_error(mage_state, change, message):
    ddconfig = {k: v for k, v in {**MAGE_DDCONFIG, **change}.items() if v is not None}
    with pytest.raises(ConversionError, match=message):
        with torch.device("meta"):
            vqgan_jax_from_official(mage_state, ddconfig, N_EMBED)
