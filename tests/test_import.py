"""`adanat import`: official files (small, in the public key layouts) -> bundles; unsafe pickles refused.

The helpers here also build the official-layout files for the fake Hugging Face cache in
``test_zoo_download.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from adanat_cli.architectures.maskgit import MaskGITTransformer
from adanat_cli.models.bundle import load_bundle
from adanat_cli.models.converters.maskgit import _RULES as MASKGIT_RULES

from .golden import golden_file


def golden(name: str) -> tuple[dict, dict[str, torch.Tensor], dict, dict]:
    """(metadata, public state dict, inputs, outputs) of a golden file."""
    path = golden_file(f"{name}.safetensors")
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
    tensors = load_file(str(path))

    def group(prefix: str) -> dict:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    return meta, group("state_dict."), group("input."), group("output.")


def write_uvit_files(folder: Path) -> tuple[Path, Path]:
    """AdaNAT/AutoNAT/MUSE layout: a plain nnet state dict and MAGE's ``{"state_dict": ...}`` VQGAN."""
    folder.mkdir(parents=True, exist_ok=True)
    _, nnet, _, _ = golden("uvit_small")
    _, vq, _, _ = golden("vqgan_small")
    torch.save(nnet, folder / "nnet_ema.pth")
    torch.save({"state_dict": vq}, folder / "vqgan_jax_strongaug.ckpt")
    return folder / "nnet_ema.pth", folder / "vqgan_jax_strongaug.ckpt"


def write_maskgit_files(folder: Path, nnet_name: str = "MaskGIT_ImageNet_256.pth") -> tuple[Path, Path, Path]:
    """MaskGIT-pytorch layout: ``{"model_state_dict": ...}`` (DDP ``module.`` keys), a Lightning
    ``last.ckpt`` with the taming VQGAN under ``state_dict`` (plus ``loss.*``) and its ``model.yaml``.
    16 heads as published, at width 32; the codebook matches the golden taming VQGAN (64 codes)."""
    folder.mkdir(parents=True, exist_ok=True)
    meta, vq, _, _ = golden("taming_vqgan_small")
    torch.manual_seed(0)
    model = MaskGITTransformer(codebook_size=int(meta["n_embed"]), num_classes=10, grid_size=4, dim=32,
                               depth=2, num_heads=16, mlp_dim=64).eval()
    official = {"module." + MASKGIT_RULES.to_public(k): v for k, v in model.state_dict().items()}
    torch.save({"model_state_dict": official, "iter": 7, "global_epoch": 1}, folder / nnet_name)
    vq = {**vq, "loss.discriminator.main.0.weight": torch.zeros(2, 3, 4, 4)}
    torch.save({"state_dict": vq, "epoch": 3, "global_step": 10}, folder / "last.ckpt")
    ddconfig = json.loads(meta["ddconfig"])
    yaml_text = (
        "model:\n  target: taming.models.vqgan.VQModel\n  params:\n"
        f"    embed_dim: {meta['embed_dim']}\n    n_embed: {meta['n_embed']}\n"
        f"    ddconfig: {json.dumps(ddconfig)}\n"
        "    lossconfig:\n      target: taming.modules.losses.vqperceptual.VQLPIPSWithDiscriminator\n"
    )
    (folder / "model.yaml").write_text(yaml_text)
    return folder / nnet_name, folder / "last.ckpt", folder / "model.yaml"


def one_error_line(err: str) -> bool:
    """Exactly one `Error: …` line and no traceback (progress lines may precede it)."""
    return "Traceback" not in err and sum(line.startswith("Error: ") for line in err.splitlines()) == 1


def test_golden_uvit_round_trip_reproduces_the_public_outputs(cli, tmp_path):
    nnet, vq = write_uvit_files(tmp_path / "files")
    result = cli("import", "--format", "autonat", "--nnet", str(nnet), "--tokenizer", str(vq),
                 "--name", "uvit-small", "--out", str(tmp_path / "bundle"), "--heads", "4")
    assert result.code == 0, result.err
    assert result.out.strip() == str(tmp_path / "bundle")
    bundle = load_bundle(tmp_path / "bundle")
    _, _, inputs, outputs = golden("uvit_small")
    with torch.no_grad():
        got = bundle.backbone(inputs["masked_ids"], inputs["context"][:, 0])
    assert (got.logits - outputs["logits"]).abs().max() < 1e-5
    assert (got.features - outputs["feat"]).abs().max() < 1e-5
    _, _, vq_in, vq_out = golden("vqgan_small")
    assert torch.equal(bundle.tokenizer.encode(vq_in["image"]).flatten(1), vq_out["encoded_indices"].flatten(1))
    assert bundle.classes == [str(i) for i in range(10)]
    assert bundle.recommended["scheduler"] == "autonat"


def test_every_uvit_format_imports_and_samples(cli, tmp_path):
    nnet, vq = write_uvit_files(tmp_path / "files")
    for fmt in ("adanat", "muse"):
        out = tmp_path / fmt
        result = cli("import", "--format", fmt, "--nnet", str(nnet), "--tokenizer", str(vq),
                     "--name", fmt, "--out", str(out), "--heads", "4")
        assert result.code == 0, result.err
        sampled = cli("sample", "--model", str(out), "--class", "3", "--num", "1",  # recommended steps
                      "--out", str(tmp_path / f"samples-{fmt}"))
        assert sampled.code == 0, sampled.err
        assert (tmp_path / f"samples-{fmt}" / "samples.json").is_file()


def test_maskgit_format_imports_and_samples(cli, tmp_path):
    nnet, vq, yaml_file = write_maskgit_files(tmp_path / "files")
    out = tmp_path / "maskgit"
    result = cli("import", "--format", "maskgit", "--nnet", str(nnet), "--tokenizer", str(vq),
                 "--tokenizer-config", str(yaml_file), "--name", "mg", "--out", str(out))
    assert result.code == 0, result.err
    config = json.loads((out / "config.json").read_text())
    assert config["backbone"]["config"]["num_heads"] == 16 and config["backbone"]["config"]["num_classes"] == 10
    assert config["recommended"]["scheduler"] == "arccos"
    sampled = cli("sample", "--model", str(out), "--class", "3", "--num", "1", "--steps", "2",
                  "--out", str(tmp_path / "samples"))
    assert sampled.code == 0, sampled.err


def test_maskgit_without_its_model_yaml_is_one_line(cli, tmp_path):
    nnet, vq, _ = write_maskgit_files(tmp_path / "files")
    result = cli("import", "--format", "maskgit", "--nnet", str(nnet), "--tokenizer", str(vq),
                 "--name", "mg", "--out", str(tmp_path / "mg"))
    assert result.code != 0 and "--tokenizer-config" in result.err
    assert one_error_line(result.err) and not (tmp_path / "mg").exists()


class _Pwn:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_unrun(cli, tmp_path):
    marker = tmp_path / "PWNED"
    _, vq = write_uvit_files(tmp_path / "files")
    evil = tmp_path / "evil.pth"
    torch.save({"token_emb.word_embeddings.weight": torch.zeros(2, 2), "payload": _Pwn(marker)}, evil)
    result = cli("import", "--format", "autonat", "--nnet", str(evil), "--tokenizer", str(vq),
                 "--name", "evil", "--out", str(tmp_path / "evil-bundle"))
    assert result.code != 0
    assert "refused" in result.err and ".system" in result.err and one_error_line(result.err)
    assert not marker.exists()
    assert not (tmp_path / "evil-bundle").exists()


def test_an_unexpected_key_is_named(cli, tmp_path):
    nnet, vq = write_uvit_files(tmp_path / "files")
    state = torch.load(nnet, weights_only=True)
    state["extra_head.weight"] = torch.zeros(3)
    torch.save(state, nnet)
    result = cli("import", "--format", "autonat", "--nnet", str(nnet), "--tokenizer", str(vq),
                 "--name", "x", "--out", str(tmp_path / "x"), "--heads", "4")
    assert result.code != 0 and "'extra_head.weight'" in result.err
    assert one_error_line(result.err)


def test_enat_import_reproduces_the_golden_outputs(cli, tmp_path):
    """The golden ENAT state dict (official key names) -> torch.save -> import -> bundle -> same outputs."""
    from safetensors import safe_open

    from adanat_cli.models.bundle import load_bundle

    from .golden import golden_file

    with safe_open(str(golden_file("enat_small.safetensors")), "pt") as f:
        state = {k[len("state_dict."):]: f.get_tensor(k) for k in f.keys() if k.startswith("state_dict.")}
        ids, labels = f.get_tensor("input.ids_prev"), f.get_tensor("input.labels")
        logits = f.get_tensor("output.prev_logits")
    files = tmp_path / "files"
    files.mkdir()
    torch.save(state, files / "nnet_ema.pth")
    _, vq = write_uvit_files(tmp_path / "vq")
    result = cli("import", "--format", "enat", "--nnet", str(files / "nnet_ema.pth"), "--tokenizer", str(vq),
                 "--name", "e", "--out", str(tmp_path / "e"), "--heads", "4", "--enc-dec", "3,1")
    assert result.code == 0, result.err
    backbone = load_bundle(tmp_path / "e").backbone
    assert (backbone(ids, labels).logits - logits).abs().max() < 1e-5
    bad = cli("import", "--format", "enat", "--nnet", str(files / "nnet_ema.pth"), "--tokenizer", str(vq),
              "--name", "e", "--out", str(tmp_path / "e2"), "--enc-dec", "3")
    assert bad.code != 0 and "--enc-dec" in bad.err


def test_the_full_size_mage_vqgan_ddconfig_is_read_from_its_shapes():
    """The real vqgan_jax_strongaug.ckpt ships no config: its keys/shapes alone must rebuild it."""
    from adanat_cli.models.convert import vqgan_jax_from_official
    from adanat_cli.models.formats import infer_vqgan_jax_config

    manifest = json.loads(golden_file("checkpoint_manifests.json").read_text())["mage_vqgan_jax_strongaug_f16"]
    state = {key: torch.empty(shape, device="meta") for key, shape in manifest.items()}
    ddconfig, n_embed = infer_vqgan_jax_config(state)
    assert n_embed == 1024
    assert (ddconfig["ch"], ddconfig["ch_mult"], ddconfig["num_res_blocks"], ddconfig["z_channels"]) == (
        128, [1, 1, 2, 2, 4], 2, 256)  # f16: five levels
    with torch.device("meta"):
        model = vqgan_jax_from_official(state, ddconfig, n_embed)
    assert model.downsample == 16
