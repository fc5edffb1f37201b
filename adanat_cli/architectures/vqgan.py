"""VQGAN tokenizers: the MAGE jax-converted VQGAN and the taming-transformers VQGAN.

Both are the convolutional encoder/decoder of taming-transformers (Esser et al., CVPR 2021,
``taming/modules/diffusionmodules/model.py``): ResNet blocks of GroupNorm(32, eps 1e-6) + swish + 3x3
conv, a resampling step between resolution levels, a middle block, and a nearest-neighbour codebook.
Two public variants differ in a handful of places, each a flag of the shared ``Encoder``/``Decoder``:

=========================  =================================  ======================================
                           ``vqgan-jax`` (``VQGANJax``)        ``vqgan-taming`` (``VQGANTaming``)
=========================  =================================  ======================================
public code                MAGE / AdaNAT / AutoNAT             taming-transformers ``VQModel`` as
                           ``taming/models/vqgan.py`` (a       vendored by MaskGIT-pytorch
                           port of MaskGIT's flax tokenizer)   (valeoai, ``Network/Taming``)
ResNet block convs         no bias                             bias
channel-changing shortcut  1x1 out->out conv applied to the    1x1 in->out conv applied to the
                           block's *output*: ``h + s(h)``      block's input: ``s(x) + h``
attention blocks           none (``attn_resolutions`` is       at ``attn_resolutions`` and in the
                           ignored by the port)                middle block
encoder downsampling       2x2 average pooling                 pad (0,1,0,1) + 3x3 conv, stride 2
encoder conv_in / conv_out 3x3 no bias / 1x1                   3x3 / 3x3
decoder blocks per level   ``num_res_blocks``                  ``num_res_blocks + 1``
quant_conv                 none                                1x1 convs around the codebook
image range                [0, 1]                              [-1, 1]
=========================  =================================  ======================================

Module names mirror the public state-dict keys, so a public checkpoint loads without renaming.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import Tokenizer


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """norm -> swish -> conv3x3 -> norm -> swish -> conv3x3, plus a shortcut.

    When the channel count changes, taming adds ``nin_shortcut(x)`` (in -> out) to the branch output.
    MaskGIT's flax ResBlock, and MAGE's port of it, instead applies its shortcut to the branch output
    itself, ``h + nin_shortcut(h)`` with an out -> out 1x1 conv (``shortcut_on_output=True``); the
    converted checkpoints depend on that quirk.
    """

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool, shortcut_on_output: bool) -> None:
        super().__init__()
        self.norm1 = _norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)
        self.norm2 = _norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=bias)
        self.shortcut_on_output = shortcut_on_output
        if in_channels != out_channels:
            shortcut_in = out_channels if shortcut_on_output else in_channels
            self.nin_shortcut = nn.Conv2d(shortcut_in, out_channels, 1, bias=bias)
        else:
            self.nin_shortcut = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if self.nin_shortcut is None:
            return x + h
        if self.shortcut_on_output:
            return self.nin_shortcut(h) + h
        return self.nin_shortcut(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions, 1x1-conv projections, residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        normed = self.norm(x)
        # (B, C, H, W) -> (B, 1, H*W, C): one head whose width is all channels
        q, k, v = (proj(normed).reshape(b, 1, c, h * w).transpose(2, 3) for proj in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(C)) v
        # (B, 1, H*W, C) -> (B, C, H, W)
        out = out.transpose(2, 3).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Halve H and W: a stride-2 3x3 conv after padding right/bottom by one, or 2x2 average pooling."""

    def __init__(self, channels: int, with_conv: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2) if with_conv else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is None:
            return F.avg_pool2d(x, kernel_size=2, stride=2)
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Double H and W by nearest-neighbour repetition, then a 3x3 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    """One resolution level: ``count`` ResNet blocks (block_in -> block_out channels), each followed by
    attention if asked, then ``downsample`` (encoder) or ``upsample`` (decoder), if any."""

    def __init__(
        self,
        block_in: int,
        block_out: int,
        count: int,
        attention: bool,
        flags: dict[str, bool],
        downsample: Downsample | None = None,
        upsample: Upsample | None = None,
    ) -> None:
        super().__init__()
        self.block = nn.ModuleList(
            ResnetBlock(block_in if j == 0 else block_out, block_out, **flags) for j in range(count)
        )
        self.attn = nn.ModuleList(AttnBlock(block_out) for _ in range(count) if attention)
        self.downsample = downsample
        self.upsample = upsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            x = block(x)
            if len(self.attn) > 0:
                x = self.attn[i](x)
        if self.downsample is not None:
            x = self.downsample(x)
        if self.upsample is not None:
            x = self.upsample(x)
        return x


class Mid(nn.Module):
    """ResNet block, optional attention, ResNet block at the lowest resolution."""

    def __init__(self, channels: int, attention: bool, **block_flags: bool) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, **block_flags)
        self.attn_1 = AttnBlock(channels) if attention else None
        self.block_2 = ResnetBlock(channels, channels, **block_flags)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block_1(x)
        if self.attn_1 is not None:
            x = self.attn_1(x)
        return self.block_2(x)


class Encoder(nn.Module):
    """Image (B, in_channels, H, W) -> latents (B, z_channels, H/f, W/f), f = 2**(len(ch_mult)-1)."""

    def __init__(
        self,
        *,
        ch: int,
        ch_mult: Sequence[int],
        num_res_blocks: int,
        z_channels: int,
        in_channels: int,
        attn_resolutions: Sequence[int],
        resolution: int,
        taming: bool,
    ) -> None:
        super().__init__()
        flags = dict(bias=taming, shortcut_on_output=not taming)
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1, bias=taming)
        levels = []
        block_in, curr_res = ch, resolution
        for i, mult in enumerate(ch_mult):
            block_out = ch * mult
            last = i == len(ch_mult) - 1
            downsample = None if last else Downsample(block_out, with_conv=taming)
            attention = taming and curr_res in attn_resolutions
            levels.append(Level(block_in, block_out, num_res_blocks, attention, flags, downsample=downsample))
            block_in = block_out
            curr_res = curr_res if last else curr_res // 2
        self.down = nn.ModuleList(levels)
        self.mid = Mid(block_in, attention=taming, **flags)
        self.norm_out = _norm(block_in)
        kernel = 3 if taming else 1
        self.conv_out = nn.Conv2d(block_in, z_channels, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """Latents (B, z_channels, h, w) -> image (B, out_ch, h*f, w*f) in the network's native range."""

    def __init__(
        self,
        *,
        ch: int,
        ch_mult: Sequence[int],
        num_res_blocks: int,
        z_channels: int,
        out_ch: int,
        attn_resolutions: Sequence[int],
        resolution: int,
        taming: bool,
    ) -> None:
        super().__init__()
        flags = dict(bias=taming, shortcut_on_output=not taming)
        block_in = ch * ch_mult[-1]
        curr_res = resolution // 2 ** (len(ch_mult) - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, padding=1)
        self.mid = Mid(block_in, attention=taming, **flags)
        per_level = num_res_blocks + 1 if taming else num_res_blocks
        levels = []  # built from the lowest resolution up, stored highest resolution first
        for i in reversed(range(len(ch_mult))):
            block_out = ch * ch_mult[i]
            upsample = Upsample(block_out) if i != 0 else None
            attention = taming and curr_res in attn_resolutions
            levels.insert(0, Level(block_in, block_out, per_level, attention, flags, upsample=upsample))
            block_in = block_out
            curr_res = curr_res * 2 if i != 0 else curr_res
        self.up = nn.ModuleList(levels)
        self.norm_out = _norm(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Codebook(nn.Module):
    """The VQ codebook (``quantize.embedding`` in the public checkpoints)."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(size, dim)

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, C, h, w) -> indices (B, h, w) of the closest entries.

        Squared distances are expanded as ||z||^2 + ||e||^2 - 2 z.e, exactly as taming's
        ``VectorQuantizer2`` computes them, so rounding and ties give the same indices.
        """
        b, c, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(b * h * w, c)  # (B*h*w, C)
        codes = self.embedding.weight  # (K, C)
        dist = flat.pow(2).sum(dim=1, keepdim=True) + codes.pow(2).sum(dim=1) - 2 * flat @ codes.t()
        return dist.argmin(dim=1).reshape(b, h, w)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, h, w) long -> latents (B, C, h, w)."""
        return self.embedding(codes).permute(0, 3, 1, 2)


class VQGANJax(Tokenizer):
    """MAGE's jax-converted VQGAN (used by MAGE, MUSE, AutoNAT, AdaNAT and ENAT); images in [0, 1].

    The PyTorch port of MaskGIT's flax tokenizer in AdaNAT's ``taming/models/vqgan.py``: bias-free
    ResNet convs whose shortcut acts on the block output, average-pool downsampling, a 1x1 encoder
    output conv, no attention and no quant_conv. The defaults are the published ``vqgan_jax_strongaug``
    configuration (f16, 1024 codes of width 256).
    """

    def __init__(
        self,
        ch: int = 128,
        ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
        num_res_blocks: int = 2,
        z_channels: int = 256,
        codebook_size: int = 1024,
        in_channels: int = 3,
        out_ch: int = 3,
    ) -> None:
        super().__init__(codebook_size=codebook_size, downsample=2 ** (len(ch_mult) - 1))
        # without attention blocks the architecture does not depend on the training resolution
        shape = dict(
            ch=ch,
            ch_mult=ch_mult,
            num_res_blocks=num_res_blocks,
            z_channels=z_channels,
            attn_resolutions=(),
            resolution=0,
            taming=False,
        )
        self.encoder = Encoder(**shape, in_channels=in_channels)
        self.decoder = Decoder(**shape, out_ch=out_ch)
        self.quantize = Codebook(codebook_size, z_channels)

    def decode_raw(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.quantize.lookup(codes))

    def to_unit(self, raw: torch.Tensor) -> torch.Tensor:
        return raw

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.quantize.nearest(self.encoder(images))


class VQGANTaming(Tokenizer):
    """taming-transformers' VQGAN ``VQModel`` (as vendored by MaskGIT-pytorch); images in [-1, 1].

    Biased convs, strided-conv downsampling, attention at ``attn_resolutions`` and in the middle
    blocks, and 1x1 ``quant_conv``/``post_quant_conv`` between the z_channels latents and the
    embed_dim codebook. The defaults are the ImageNet f16-1024 configuration.
    """

    def __init__(
        self,
        ch: int = 128,
        ch_mult: Sequence[int] = (1, 1, 2, 2, 4),
        num_res_blocks: int = 2,
        attn_resolutions: Sequence[int] = (16,),
        resolution: int = 256,
        z_channels: int = 256,
        embed_dim: int = 256,
        codebook_size: int = 1024,
        in_channels: int = 3,
        out_ch: int = 3,
    ) -> None:
        super().__init__(codebook_size=codebook_size, downsample=2 ** (len(ch_mult) - 1))
        shape = dict(
            ch=ch,
            ch_mult=ch_mult,
            num_res_blocks=num_res_blocks,
            z_channels=z_channels,
            attn_resolutions=list(attn_resolutions),
            resolution=resolution,
            taming=True,
        )
        self.encoder = Encoder(**shape, in_channels=in_channels)
        self.decoder = Decoder(**shape, out_ch=out_ch)
        self.quant_conv = nn.Conv2d(z_channels, embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, z_channels, 1)
        self.quantize = Codebook(codebook_size, embed_dim)

    def decode_raw(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(self.quantize.lookup(codes)))

    def to_unit(self, raw: torch.Tensor) -> torch.Tensor:
        return (raw + 1.0) / 2.0

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.quantize.nearest(self.quant_conv(self.encoder(images * 2.0 - 1.0)))
