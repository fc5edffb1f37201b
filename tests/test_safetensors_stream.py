"""The streaming safetensors writer produces files the safetensors library reads back exactly."""

from __future__ import annotations

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from adanat_cli.models.safetensors_stream import save_streaming


def test_every_dtype_and_shape_round_trips(tmp_path):
    generator = torch.Generator().manual_seed(0)
    tensors = {
        "f32": torch.randn(3, 5, generator=generator),
        "f64": torch.randn(7, generator=generator, dtype=torch.float64),
        "f16": torch.randn(2, 3, generator=generator).half(),
        "bf16": torch.randn(4, generator=generator).bfloat16(),
        "i64": torch.arange(6).view(2, 3),
        "u8": torch.arange(5, dtype=torch.uint8),
        "flag": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "strided": torch.randn(4, 6, generator=generator)[:, ::2],  # not contiguous
        "empty": torch.zeros(0, 3),
    }
    file = tmp_path / "t.safetensors"
    save_streaming(tensors, file, metadata={"format": "pt", "note": "x"})
    loaded = load_file(str(file))
    assert loaded.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert loaded[name].dtype == tensor.dtype and torch.equal(loaded[name], tensor), name
    with safe_open(str(file), "pt") as handle:
        assert handle.metadata() == {"format": "pt", "note": "x"}
