"""The analytic FLOP counter: hand counts for tiny configs, and FlopCounterMode on real forwards."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from adanat_cli.architectures.enat import ENAT
from adanat_cli.architectures.uvit import UViT
from adanat_cli.engine.flops import forward_flops, generation_flops
from adanat_cli.errors import UsageError

from .fakes import ToyBackbone

TINY = {"codebook_size": 4, "num_classes": 3, "grid_size": 2, "dim": 8, "num_heads": 2, "mlp_ratio": 2.0}


def _masks(*visible_sets: list[int], n: int = 4) -> list[torch.Tensor]:
    masks = []
    for visible in visible_sets:
        mask = torch.ones(1, n, dtype=torch.bool)
        mask[0, visible] = False
        masks.append(mask)
    return masks


def test_enat_hand_count():
    """D=8, MLP 16, N=4, codebook 4, one encoder and one decoder block; prev_proj MLP 32.

    A block updating q tokens and reading k (k - q of them context) costs adaLN 2·8·64 = 1024,
    q and proj 128·q each, kv_own 256·q, kv_context 256·(k-q), attention 32·q·k, MLP 512·q, and is
    skipped when q = 0. The head costs 512 + 256 = 768; prev_proj 1024 per reused token.
    step 0: all masked, cond only: decoder (4, 4) 5632 + head = 6400.
    step 1: 0,1 visible, cond reuses step 0 (2 new), uncond has no cache (step 0 skipped it):
            2 x (encoder (2, 2) 3200 + decoder (2, 4) 3840 + head 768) = 15616.
    step 2: 0,1,2 visible, both reuse step 1 (1 new, 2 reused):
            2 x (encoder (1, 3) 2656 + decoder (1, 4) 2944 + prev_proj 2048 + head 768) = 16832.
    """
    model = ENAT(**TINY, encoder_depth=1, decoder_depth=1)
    flops = generation_flops(model, _masks([], [0, 1], [0, 1, 2]), [False, True, True])
    assert flops["per_step"].tolist() == [[6400, 15616, 16832]]
    assert flops["total"].tolist() == [38848] and flops["mean_total"] == 38848.0
    # without reuse the new tokens are all visible ones and nothing goes through prev_proj
    plain = generation_flops(model, _masks([], [0, 1], [0, 1, 2]), [False, True, True], reuse=False)
    assert plain["per_step"][0, 2] == 2 * (1024 + 3 * 1024 + 32 * 9 + 2944 + 768)  # encoder (3, 3)


def test_uvit_hand_count():
    """D=8, MLP 16, L = 4 + class token = 5; 1 in, 1 mid, 1 out block (with skip fusion).

    Per block qkv 1920 + proj 640 + attention 800 + MLP 2560 = 5920; skip fusion 1280; head 768:
    19808 per forward, whatever the mask; uncond passes double a step.
    """
    model = UViT(codebook_size=4, num_classes=3, grid_size=2, dim=8, depth=2, num_heads=2, mlp_ratio=2.0)
    flops = generation_flops(model, _masks([], [0, 1], [0, 1, 2]), [False, True, True])
    assert flops["per_step"].tolist() == [[19808, 2 * 19808, 2 * 19808]]


def _counted(model, *args, **kwargs) -> int:
    # FlopCounterMode does not count the CPU flash-attention kernel; the math one is plain matmuls
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(*args, **kwargs)
    return counter.get_total_flops()


def test_uvit_count_matches_flop_counter_mode():
    torch.manual_seed(0)
    model = UViT(codebook_size=32, num_classes=10, grid_size=4, dim=32, depth=4, num_heads=4).eval()
    tokens = torch.randint(0, 33, (2, 16))
    with torch.no_grad():
        assert _counted(model, tokens, torch.tensor([1, 2])) == int(forward_flops(model, tokens == 32).sum())


def test_enat_count_matches_flop_counter_mode_with_and_without_reuse():
    torch.manual_seed(0)
    model = ENAT(codebook_size=32, num_classes=10, grid_size=4, dim=32, encoder_depth=3, decoder_depth=1,
                 num_heads=4).eval()
    labels = torch.tensor([1, 2])
    prev = torch.full((2, 16), 32)
    prev[0, [1, 5]], prev[1, [0, 9]] = 3, 7  # the same counts per row: no padding
    cur = prev.clone()
    cur[0, [2, 7, 9]], cur[1, [3, 4, 15]] = 4, 5
    with torch.no_grad():
        cache = model(prev, labels).cache
        assert _counted(model, prev, labels) == int(forward_flops(model, prev == 32).sum())
        assert _counted(model, cur, labels) == int(forward_flops(model, cur == 32).sum())
        reused = _counted(model, cur, labels, cache=cache)
    assert reused == int(forward_flops(model, cur == 32, prev == 32).sum())
    assert reused < _counted(model, cur, labels)


def test_bad_inputs_are_refused():
    model = ENAT(**TINY, encoder_depth=1, decoder_depth=1)
    with pytest.raises(UsageError, match="2 masks but 1 uncond"):
        generation_flops(model, _masks([], [0]), [False])
    with pytest.raises(UsageError, match="no FLOP count for backbone ToyBackbone"):
        generation_flops(ToyBackbone(), _masks([]), [False])
