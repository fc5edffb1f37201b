"""Writing a safetensors file one tensor at a time.

``safetensors.torch.save_file`` gathers the bytes of every tensor before writing, so converting a
checkpoint would briefly hold its weights twice. This writer computes the header from shapes and
dtypes first, then copies each tensor to the file in turn: at most one tensor's bytes are held beyond
the (possibly memory-mapped) source. The output is a standard safetensors file: an 8-byte
little-endian header length, the JSON header padded with spaces to a multiple of 8, then the data;
tensors are ordered by decreasing element size so that every tensor is aligned for its dtype.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path

import torch

DTYPE_NAMES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def save_streaming(tensors: Mapping[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    order = sorted(tensors, key=lambda name: (-tensors[name].element_size(), name))
    header: dict[str, object] = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for name in order:
        tensor = tensors[name]
        if tensor.dtype not in DTYPE_NAMES:
            raise ValueError(f"tensor '{name}' has unsupported dtype {tensor.dtype}")
        size = tensor.numel() * tensor.element_size()
        header[name] = {"dtype": DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)))
        handle.write(encoded)
        for name in order:
            tensor = tensors[name].detach().to("cpu").contiguous().reshape(-1)
            handle.write(tensor.view(torch.uint8).numpy().tobytes())  # (numel * element_size,) bytes
