"""Parity of our VQGAN tokenizers with the public implementations, on the golden reference vectors.

The golden files were produced by running MAGE/AdaNAT's jax-converted ``VQModel`` and the taming
``VQModel`` vendored by MaskGIT-pytorch with random weights; matching them means the real
checkpoints decode and encode exactly as their authors' code does.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from adanat_cli.architectures.vqgan import VQGANJax, VQGANTaming
from adanat_cli.models.converters.vqgan import (
    vqgan_jax_from_official,
    vqgan_taming_from_official,
)

from .golden import golden_file

TOL = 1e-5


def _golden(name: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = golden_file(f"{name}.safetensors")
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
    return load_file(str(path)), meta


def _state_dict(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    prefix = "state_dict."
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def jax_case():
    tensors, meta = _golden("vqgan_small")
    model = vqgan_jax_from_official(_state_dict(tensors), json.loads(meta["ddconfig"]), meta["n_embed"])
    return model, tensors


@pytest.fixture(scope="module")
def taming_case():
    tensors, meta = _golden("taming_vqgan_small")
    model = vqgan_taming_from_official(
        _state_dict(tensors), json.loads(meta["ddconfig"]), meta["n_embed"], meta["embed_dim"]
    )
    return model, tensors


@pytest.fixture(params=["jax", "taming"])
def case(request, jax_case, taming_case):
    return {"jax": jax_case, "taming": taming_case}[request.param]


def test_converters_build_the_right_classes(jax_case, taming_case):
    assert type(jax_case[0]) is VQGANJax
    assert type(taming_case[0]) is VQGANTaming
    assert jax_case[0].codebook_size == 64 and taming_case[0].codebook_size == 64
    assert jax_case[0].downsample == 4 and taming_case[0].downsample == 4


def test_decode_raw_matches_public_decoder(case):
    model, tensors = case
    with torch.no_grad():
        raw = model.decode_raw(tensors["input.code"])
    assert raw.shape == tensors["output.decoded"].shape
    err = (raw - tensors["output.decoded"]).abs().max().item()
    assert err <= TOL, f"max abs error {err}"


def test_decode_is_the_clamped_unit_range_image(case):
    model, tensors = case
    with torch.no_grad():
        images = model.decode(tensors["input.code"])
    expected = model.to_unit(tensors["output.decoded"]).clamp(0, 1)
    assert images.min() >= 0 and images.max() <= 1
    assert (images - expected).abs().max().item() <= TOL
    unit = model.to_unit(tensors["output.decoded"])
    assert ((unit < 0) | (unit > 1)).any(), "the golden outputs leave [0, 1], so the clamp is exercised"


def test_jax_encode_matches_public_indices(jax_case):
    model, tensors = jax_case
    with torch.no_grad():
        codes = model.encode(tensors["input.image"])  # this VQGAN's native range is [0, 1]
    assert codes.dtype == torch.long
    assert torch.equal(codes, tensors["output.encoded_indices"])


def test_taming_encode_takes_unit_range_images(taming_case):
    model, tensors = taming_case
    unit = (tensors["input.image"] + 1) / 2  # the golden image is in taming's native [-1, 1]
    with torch.no_grad():
        codes = model.encode(unit)
    assert codes.dtype == torch.long
    assert torch.equal(codes, tensors["output.encoded_indices"])


def test_taming_to_unit_maps_minus_one_one_to_zero_one(taming_case):
    model, _ = taming_case
    assert torch.equal(model.to_unit(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([0.0, 0.5, 1.0]))


def test_config_rebuilds_the_same_architecture(case):
    model, _ = case
    config = json.loads(json.dumps(model.config))  # JSON-serialisable, lists not tuples
    assert config == model.config
    with torch.device("meta"):
        rebuilt = type(model)(**config)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()} == ours
    assert rebuilt.downsample == model.downsample and rebuilt.codebook_size == model.codebook_size
