"""ENAT: golden parity (fresh and reuse), uneven rows, conversion, cache validation, engine use."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from adanat_cli.architectures.enat import ENAT, ENATCache
from adanat_cli.engine.flops import generation_flops
from adanat_cli.engine.loop import decode
from adanat_cli.errors import ConversionError, UsageError
from adanat_cli.models.convert import enat_from_official
from adanat_cli.models.converters.enat import infer_enat_config
from adanat_cli.schedulers.maskgit import CosineScheduler

from .golden import golden_file

MASK = 32  # the golden model's codebook size = mask id


def _golden() -> tuple[dict[str, torch.Tensor], dict]:
    path = golden_file("enat_small.safetensors")
    with safe_open(str(path), "pt") as f:
        config = json.loads(f.metadata()["config"])
    return load_file(str(path)), config


def _state_dict(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("state_dict."):]: v for k, v in tensors.items() if k.startswith("state_dict.")}


@pytest.fixture(scope="module")
def golden():
    return _golden()


@pytest.fixture(scope="module")
def model(golden) -> ENAT:
    tensors, config = golden
    return enat_from_official(_state_dict(tensors), config)


def test_matches_public_enat_without_and_with_reuse(golden, model):
    tensors, _ = golden
    ids_prev, ids_cur, labels = (tensors[f"input.{k}"] for k in ("ids_prev", "ids_cur", "labels"))
    with torch.no_grad():
        prev = model(ids_prev, labels)
        fresh = model(ids_cur, labels)
        reuse = model(ids_cur, labels, cache=prev.cache)
    for name, out in (("prev", prev), ("fresh", fresh), ("reuse", reuse)):
        torch.testing.assert_close(out.logits, tensors[f"output.{name}_logits"], atol=1e-5, rtol=0)
        torch.testing.assert_close(out.cache.features, tensors[f"output.{name}_feat"], atol=1e-5, rtol=0)
    # the reuse path is really exercised: it is an approximation, not the fresh forward
    assert (reuse.logits - fresh.logits).abs().max() > 1e-2
    assert reuse.cache.step == 1 and fresh.cache.step == 0
    # policy features: the final-norm features of all positions
    torch.testing.assert_close(fresh.features, model.norm(fresh.cache.features))


def _uneven_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows whose previous / current inputs reveal different positions and counts, including a row
    that stays fully masked, one without new tokens and one without mask tokens."""
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, MASK, (4, 16), generator=g)
    prev_visible = torch.zeros(4, 16, dtype=torch.bool)
    cur_visible = torch.zeros(4, 16, dtype=torch.bool)
    prev_visible[0, [3, 9]] = True
    cur_visible[0, [1, 3, 9, 10, 14]] = True  # 2 reused, 3 new
    # row 1: nothing visible at either step
    prev_visible[2, [0, 5, 6, 7, 12, 15]] = True
    cur_visible[2] = prev_visible[2]  # 6 reused, no new
    prev_visible[3, [2, 4, 8, 11]] = True
    cur_visible[3] = True  # 4 reused, 12 new, nothing masked
    prev = torch.where(prev_visible, codes, MASK)
    cur = torch.where(cur_visible, codes, MASK)
    return prev, cur, torch.tensor([1, 4, 7, 10])


def test_uneven_rows_equal_rows_run_alone(model):
    prev, cur, labels = _uneven_batch()
    with torch.no_grad():
        batch_prev = model(prev, labels)
        batch_fresh = model(cur, labels)
        batch_reuse = model(cur, labels, cache=batch_prev.cache)
        for i in range(4):
            row = slice(i, i + 1)
            alone_prev = model(prev[row], labels[row])
            alone_fresh = model(cur[row], labels[row])
            alone_reuse = model(cur[row], labels[row], cache=alone_prev.cache)
            for batched, alone in ((batch_prev, alone_prev), (batch_fresh, alone_fresh), (batch_reuse, alone_reuse)):
                torch.testing.assert_close(batched.logits[row], alone.logits, atol=1e-5, rtol=0)
                torch.testing.assert_close(batched.features[row], alone.features, atol=1e-5, rtol=0)
                torch.testing.assert_close(batched.cache.features[row], alone.cache.features, atol=1e-5, rtol=0)
    assert torch.isfinite(batch_reuse.logits).all()


def test_full_size_manifest_converts_on_meta_with_exactly_its_keys():
    shapes = json.loads(golden_file("checkpoint_manifests.json").read_text())["enat_L_imagenet256_nnet_ema"]
    sd = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    config = infer_enat_config(sd)
    assert config["enc_dec"] == [22, 2] and config["hidden_size"] == 1024 and config["num_heads"] == 16
    assert config["input_size"] == 16 and config["codebook_size"] == 1024 and config["num_classes"] == 1000
    model = enat_from_official(sd, config)
    params = dict(model.state_dict())
    assert len(params) == len(shapes)  # strict: every key consumed, every parameter filled
    assert all(p.is_meta for p in params.values())
    assert sum(p.numel() for p in params.values()) == sum(torch.Size(s).numel() for s in shapes.values())
    assert (len(model.encoder), len(model.decoder)) == (22, 2)


def test_public_blocks_and_kv_projections_land_where_they_belong(golden, model):
    """kv.A reads the context tokens, kv.B the block's own; decoder blocks follow the encoder's."""
    sd = _state_dict(golden[0])
    assert torch.equal(model.decoder[0].attn.kv_context.weight, sd["blocks.3.attn.kv.A.weight"])
    assert torch.equal(model.decoder[0].attn.kv_own.weight, sd["blocks.3.attn.kv.B.weight"])
    assert torch.equal(model.encoder[2].attn.kv_own.bias, sd["blocks.2.attn.kv.B.bias"])


def test_enc_dec_must_add_up_to_the_blocks():
    shapes = json.loads(golden_file("checkpoint_manifests.json").read_text())["enat_L_imagenet256_nnet_ema"]
    sd = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    with pytest.raises(ConversionError, match="does not add up"):
        infer_enat_config(sd, enc_dec=[20, 2])


@pytest.mark.parametrize(
    "edit, key",
    [
        ("missing", "blocks.3.attn.kv.B.weight"),
        ("missing", "x_embedder.position_embeddings.weight"),
        ("unexpected", "blocks.4.attn.q.weight"),
        ("unexpected", "pos_embed"),
        ("shape", "prev_proj.norm.weight"),
        ("shape", "blocks.1.attn.kv.A.bias"),
    ],
)
def test_conversion_errors_name_the_public_key(golden, edit, key):
    tensors, config = golden
    sd = _state_dict(tensors)
    if edit == "missing":
        del sd[key]
    elif edit == "unexpected":
        sd[key] = torch.zeros(64)
    else:
        sd[key] = torch.zeros(sd[key].shape[0] + 1)
    with pytest.raises(ConversionError, match=key.replace(".", r"\.")):
        enat_from_official(sd, config)


def test_a_cache_from_elsewhere_is_refused(model):
    prev, cur, labels = _uneven_batch()
    with torch.no_grad():
        cache = model(prev, labels).cache
        with pytest.raises(UsageError, match="another batch"):
            model(cur[:2], labels[:2], cache=cache)
        other_grid = ENATCache(cache.features, cache.mask, cache.labels, (2, 8), cache.step)
        with pytest.raises(UsageError, match="token grid"):
            model(cur, labels, cache=other_grid)
        earlier = cur.clone()
        earlier[0, 3] = MASK  # visible in the cache, masked now
        with pytest.raises(UsageError, match="token 3 of row 0 was visible in the cache"):
            model(earlier, labels, cache=cache)
        with pytest.raises(UsageError, match="other class labels"):
            model(cur, torch.full_like(labels, model.null_class), cache=cache)
        with pytest.raises(UsageError, match="ENATCache"):
            model(cur, labels, cache={"feat": cache.features})


class _Recorder:
    """Wraps a backbone: records (unconditional?, cache step or None) per call and counts the token
    slots the first encoder block processes."""

    def __init__(self, model: ENAT):
        self.model, self.calls, self.encoded = model, [], 0
        self._hook = model.encoder[0].register_forward_pre_hook(self._count)

    def _count(self, module, args):
        self.encoded += args[0].shape[0] * args[0].shape[1]

    def __call__(self, tokens, labels, cache=None, logit_rows=None):
        self.calls.append((bool((labels == self.model.null_class).all()), None if cache is None else cache.step))
        return self.model(tokens, labels, cache, logit_rows=logit_rows)

    def __getattr__(self, name):
        return getattr(self.model, name)

    def close(self):
        self._hook.remove()


@pytest.mark.parametrize("guidance", [0.0, 2.5])
def test_engine_decodes_with_enat(model, guidance):
    scheduler = CosineScheduler(remask_temp=1.5, guidance=guidance, guidance_schedule="linear")
    result = decode(model, scheduler, torch.tensor([1, 2, 3]), 4, [0, 1, 2], trace=True)
    assert result.tokens.shape == (3, 16)
    assert ((result.tokens >= 0) & (result.tokens < MASK)).all()
    # linear guidance is 0 at step 0: that step has no uncond pass
    assert result.uncond_steps == [False] + [guidance > 0] * 3
    assert result.nfe == 4 + (3 if guidance > 0 else 0)


def test_engine_keeps_one_cache_per_branch_and_drops_a_skipped_one(model):
    recorder = _Recorder(model)
    try:
        scheduler = CosineScheduler(guidance=2.5, guidance_schedule="linear")  # w = 0 at step 0 only
        decode(recorder, scheduler, torch.tensor([1, 2]), 4, [0, 1])
    finally:
        recorder.close()
    cond = [step for uncond, step in recorder.calls if not uncond]
    uncond = [step for uncond, step in recorder.calls if uncond]
    assert cond == [None, 0, 1, 2]  # each step reuses the previous one
    assert uncond == [None, 0, 1]  # step 0 skipped the uncond pass, so step 1 starts afresh


def test_cached_decoding_encodes_only_new_tokens(model):
    """Reuse is an approximation, so tokens differ; what must hold is that the encoder sees only the
    newly revealed tokens, and the FLOP counter agrees with what ran."""
    labels, seeds, steps = torch.tensor([5]), [3], 6
    scheduler = CosineScheduler(guidance=1.0)  # uncond pass at every step
    recorder = _Recorder(model)
    try:
        cached = decode(recorder, scheduler, labels, steps, seeds, trace=True)
        with_reuse = recorder.encoded
        recorder.encoded = 0
        model.supports_cache = False  # the instance attribute hides the class one
        try:
            plain = decode(recorder, scheduler, labels, steps, seeds, trace=True)
        finally:
            del model.supports_cache
        without_reuse = recorder.encoded
    finally:
        recorder.close()
    # per branch, every token is encoded exactly once, when it is revealed
    revealed = int((~cached.masks[0, -1]).sum())
    assert with_reuse == 2 * revealed
    visible_per_step = (~plain.masks[0]).sum(dim=1)  # the plain run encodes every visible token every time
    assert without_reuse == 2 * int(visible_per_step.sum())
    assert with_reuse < without_reuse
    masks = list(cached.masks.unbind(1))
    reused = generation_flops(model, masks, cached.uncond_steps)
    fresh = generation_flops(model, masks, cached.uncond_steps, reuse=False)
    assert (reused["total"] < fresh["total"]).all()


class _PerRowScheduler(CosineScheduler):
    """Each label follows its own mask ratio (as a learned policy would), so rows of one batch hold
    different numbers of visible tokens at every step; guidance from step 1 on."""

    def plan(self, state):
        plan = super().plan(state)
        r = (state.step + 1) / state.steps
        speed = 1 + state.labels.to(torch.float64) / 4  # keyed on the label, not the batch position
        plan.mask_ratio = (1 - r) ** speed
        plan.guidance = torch.full((state.batch,), 2.0 * state.step / state.steps, dtype=torch.float64)
        return plan


def test_engine_batch_with_uneven_rows_equals_rows_decoded_alone(model):
    labels, seeds = torch.tensor([0, 4, 9]), [11, 12, 13]
    together = decode(model, _PerRowScheduler(), labels, 5, seeds, trace=True)
    visible = (~together.masks).sum(dim=2)  # (B, T)
    assert (visible[:, 1:] != visible[:1, 1:]).any(dim=0).all()  # counts differ at every step after the first
    alone = torch.cat([
        decode(model, _PerRowScheduler(), labels[i:i + 1], 5, seeds[i:i + 1]).tokens for i in range(3)
    ])
    assert torch.equal(together.tokens, alone)
