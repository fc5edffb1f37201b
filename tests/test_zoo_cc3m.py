"""The `adanat-cc3m` zoo entry (AdaNAT on CC3M: MUSE's text-to-image U-ViT, CLIP ViT-bigG/14, the learned
policy, the CC3M FID statistics) and `adanat import --format muse-t2i`, end to end through the CLI.

Nothing touches the network. A fake Hub stands in for ``hf_hub_download`` (it serves small files in the
official layouts from the real repo ids and paths, stores them in the real cache layout, and records
every request); a fake Google Drive downloader serves the VQGAN and the policy, as in
``test_drive_download``. The files are reduced in size: the NAT is the golden ``uvit_t2i_small`` state
dict (64 wide, 4x4 tokens, 48-wide context), the text encoder a tiny random two-tower ``CLIPModel``
saved with ``save_pretrained`` (sharded, with a 1280-d projection like ViT-bigG/14's) plus the CLIP BPE
tokenizer files, next to decoys (open_clip's weights, a pickle index) that must not be fetched. The real
zoo entry is used unchanged: its sizes are read from the files and its 16 heads divide the small width.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import EntryNotFoundError

from adanat_cli.models import drive, zoo
from adanat_cli.models.cache import bundles_root
from adanat_cli.schedulers.adanat_network import PolicyNet
from adanat_cli.text import clip_bpe

from .test_import import golden, one_error_line
from .test_zoo_download import COMMIT, put_in_cache

# imported now, so that transformers keeps the real hf_hub_download when the fake Hub replaces it
transformers = pytest.importorskip("transformers")

NAME = "adanat-cc3m"
LAION = "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k"
TEXT_FILES = {"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
              "model-00002-of-00002.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json"}
DECOYS = {"open_clip_pytorch_model.bin", "open_clip_model.safetensors", "open_clip_config.json",
          "pytorch_model.bin.index.json", "preprocessor_config.json", "README.md"}


def tiny_clip_folder(folder: Path, text_width: int = 48) -> Path:
    """A two-tower CLIP repo as laion's: config.json (model_type clip, projection 1280 at the top level only),
    sharded safetensors with their index, and CLIP's BPE tokenizer files."""
    torch.manual_seed(3)
    config = transformers.CLIPConfig(
        text_config={"vocab_size": 49408, "hidden_size": text_width, "intermediate_size": 2 * text_width,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 77,
                     "hidden_act": "gelu", "bos_token_id": 49406, "eos_token_id": 49407},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
                       "image_size": 28, "patch_size": 14},
        projection_dim=1280)
    transformers.CLIPModel(config).save_pretrained(str(folder), max_shard_size="2MB")
    bpe = clip_bpe.default_bpe()
    (folder / "vocab.json").write_text(json.dumps(bpe.vocab), encoding="utf-8")
    merges = "\n".join(" ".join(pair) for pair in bpe.merges)
    (folder / "merges.txt").write_text(f"#version: 0.2\n{merges}\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}))
    return folder


def write_cc3m_files(folder: Path) -> dict[str, Path]:
    """The NAT (official text-to-image U-ViT keys, plus a ``position_ids`` buffer the loader drops), the MAGE
    VQGAN, an official policy checkpoint (T = 8), the FID statistics and the text encoder's repo."""
    folder.mkdir(parents=True, exist_ok=True)
    _, nnet, _, _ = golden("uvit_t2i_small")
    _, vq, _, _ = golden("vqgan_small")
    torch.save({**nnet, "token_emb.position_ids": torch.arange(16)[None]}, folder / "nnet_ema.pth")
    torch.save({"state_dict": vq}, folder / "vqgan_jax_strongaug.ckpt")
    torch.manual_seed(1)
    dim = nnet["token_emb.word_embeddings.weight"].shape[1]
    actor = PolicyNet(dim, (4, 4), hidden=16, pointwise=4, fc1=16, fc2=8)  # in != hidden: an x_embedder, as CC3M's
    model = {f"{p}actor.{k}": v for p in ("policy.", "policy_old.") for k, v in actor.state_dict().items()}
    torch.save({"model": model, "args": argparse.Namespace(gen_steps=8, heu=1), "global_step": 150},
               folder / "adanat_cc3m_policy.pth")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(8, 8))
    np.savez(folder / "fid_stats_cc3m_val.npz", mu=rng.normal(size=8), sigma=a @ a.T + np.eye(8))
    clip = tiny_clip_folder(folder / "clip")
    for decoy in DECOYS:
        (clip / decoy).write_bytes(b"not for the text model")
    return {"nnet": folder / "nnet_ema.pth", "tokenizer": folder / "vqgan_jax_strongaug.ckpt",
            "policy": folder / "adanat_cc3m_policy.pth", "fid_stats": folder / "fid_stats_cc3m_val.npz", "clip": clip}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write_cc3m_files(tmp_path_factory.mktemp("cc3m-files"))


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """A private, empty hub cache (also where transformers looks), stats cache and config folder; online as
    far as adanat can tell, with no default model from the environment."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))  # read once, when huggingface_hub was imported
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delenv("ADANAT_MODEL", raising=False)
    monkeypatch.setenv("ADANAT_CACHE", str(tmp_path / "adanat-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return cache


@pytest.fixture
def fake_hub(isolated, files, monkeypatch) -> list[tuple[str, str]]:
    """``hf_hub_download`` answered from the small files: stored in the cache's real layout at commit
    ``COMMIT``; a file the repo lacks raises EntryNotFoundError; cache-only lookups go to the real one."""
    entry = zoo.zoo_entry(NAME)
    served = {(entry.file("nnet").repo_id, entry.file("nnet").filename): files["nnet"],
              (entry.file("fid_stats").repo_id, entry.file("fid_stats").filename): files["fid_stats"]}
    served.update({(LAION, p.name): p for p in files["clip"].iterdir()})
    requests: list[tuple[str, str]] = []
    real = huggingface_hub.hf_hub_download

    def download(repo_id, filename, *, revision=None, cache_dir=None, token=None, local_files_only=False, **kwargs):
        if local_files_only:
            return real(repo_id, filename, revision=revision, cache_dir=cache_dir, local_files_only=True, **kwargs)
        assert revision in (None, "main", COMMIT), revision
        requests.append((repo_id, filename))
        if (repo_id, filename) not in served:
            raise EntryNotFoundError(f"404: {repo_id}/{filename}")
        return str(put_in_cache(Path(cache_dir or isolated), repo_id, filename, served[(repo_id, filename)]))

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    return requests


@pytest.fixture
def fake_drive(isolated, files, monkeypatch) -> list[str]:
    entry = zoo.zoo_entry(NAME)
    by_id = {drive.drive_file_id(entry.file(role).url): files[role] for role in ("tokenizer", "policy")}
    fetched: list[str] = []

    def download(file_id: str, dest: Path) -> None:
        fetched.append(file_id)
        shutil.copyfile(by_id[file_id], dest)

    monkeypatch.setattr(drive, "downloader", download)
    return fetched


def test_the_real_entry_records_the_published_setup():
    entry = zoo.zoo_entry(NAME)
    assert entry.format == "muse-t2i" and entry.num_heads == 16 and entry.num_classes == 0
    assert entry.file("nnet").repo_id == "nzl-thu/MUSE"
    assert entry.file("nnet").filename == "assets/ckpts/cc3m-285000.ckpt/nnet_ema.pth"
    assert entry.file("fid_stats").filename == "assets/fid_stats/fid_stats_cc3m_val.npz"
    assert drive.drive_file_id(entry.file("policy").url) == "1WZ9HxoTifIHhujcgMdBuGt6fwHBDnhG4"
    assert entry.file("tokenizer") == zoo.zoo_entry("adanat-L-imagenet256").file("tokenizer")  # the same VQGAN
    assert (entry.text_encoder.repo_id, entry.text_encoder.projection_dim) == (LAION, 1280)
    assert entry.recommended == {"scheduler": "cosine", "steps": 18, "scheduler_config": {
        "remask_temp": 4.5, "guidance": 10.0, "guidance_schedule": "linear"}}
    assert not entry.recommend_policy and entry.reference_stats == "cc3m-val"


def test_the_full_size_checkpoint_converts_with_the_entry_heads():
    """The published CC3M NAT's keys and shapes (meta tensors) -> its config and a UViTText."""
    from adanat_cli.models.convert import uvit_t2i_from_official
    from adanat_cli.models.converters.uvit_text import infer_uvit_t2i_config

    from .golden import golden_file

    shapes = json.loads(golden_file("checkpoint_manifests.json").read_text())["muse_cc3m_t2i_uvit_nnet_ema(cc3m-285000)"]
    state = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    config = infer_uvit_t2i_config(state, num_heads=zoo.zoo_entry(NAME).num_heads)
    assert {k: config[k] for k in ("img_size", "codebook_size", "embed_dim", "depth", "num_heads", "mlp_ratio",
                                   "qkv_bias", "clip_dim", "skip")} == {
        "img_size": 16, "codebook_size": 1024, "embed_dim": 1152, "depth": 28, "num_heads": 16, "mlp_ratio": 4,
        "qkv_bias": False, "clip_dim": 1280, "skip": True}
    model = uvit_t2i_from_official(state, config)
    assert model.grid == (16, 16) and model.context_dim == 1280 and model.feature_dim == 1152


def test_download_then_sample_a_prompt(cli, fake_hub, fake_drive, files, tmp_path, monkeypatch):
    result = cli("download", NAME)
    assert result.code == 0, result.err
    bundle = bundles_root() / NAME
    assert result.out.strip() == str(bundle)

    # only what CLIPTextModelWithProjection and CLIPTokenizer read, nothing of open_clip's
    laion = {filename for repo, filename in fake_hub if repo == LAION}
    assert TEXT_FILES <= laion and not laion & DECOYS
    assert {f for r, f in fake_hub if r == "nzl-thu/MUSE"} == {zoo.zoo_entry(NAME).file("nnet").filename,
                                                               zoo.zoo_entry(NAME).file("fid_stats").filename}
    assert sorted(fake_drive) == sorted({"13S_unB87n6KKuuMdyMnyExW0G1kplTbP", "1WZ9HxoTifIHhujcgMdBuGt6fwHBDnhG4"})

    config = json.loads((bundle / "config.json").read_text())
    assert config["classes"] == [] and config["backbone"]["type"] == "uvit-text"
    assert config["backbone"]["config"]["num_heads"] == 16 and config["backbone"]["config"]["context_dim"] == 48
    assert config["text_encoder"] == {"type": "transformers-clip", "config": {
        "source": LAION, "revision": COMMIT, "projection_dim": 1280, "context_length": 77}}
    assert "text_encoder.safetensors" not in config["files"]  # the weights stay in the Hub cache
    assert config["recommended"] == zoo.zoo_entry(NAME).recommended  # MUSE's sampling stays the default
    assert config["schedules"]["adanat"]["8"]["policy"] == "policies/adanat-T8.safetensors"
    assert config["evaluation"] == {"extractor": "inception", "reference": "cc3m-val"}
    assert config["provenance"]["sources"]["text_encoder"].startswith(f"hf:{LAION}@{COMMIT}")

    # the CC3M statistics are named statistics now
    from adanat_cli.metrics.fid import load_stats, stats_path

    class Inception:  # load_stats reads only the name of the feature space
        name = "inception"

    assert stats_path("cc3m-val", "inception").is_file() and "cc3m-val" in result.err
    stats = load_stats("cc3m-val", Inception())
    with np.load(files["fid_stats"]) as published:
        assert np.array_equal(stats.mu, published["mu"]) and np.array_equal(stats.sigma, published["sigma"])

    out = tmp_path / "samples"
    sampled = cli("sample", "--model", NAME, "--prompt", "a red bus", "--num", "2", "--steps", "4", "--out", str(out))
    assert sampled.code == 0, sampled.err
    manifest = json.loads((out / "samples.json").read_text())
    assert manifest["model"] == NAME and manifest["steps"] == 4
    assert manifest["scheduler"]["scheduler"] == "cosine"
    assert manifest["scheduler"]["config"]["guidance"] == 10.0
    assert manifest["scheduler"]["config"]["guidance_schedule"] == "linear"
    assert [image["prompt"] for image in manifest["images"]] == ["a red bus", "a red bus"]
    assert [image["file"] for image in manifest["images"]] == ["0000_a-red-bus.png", "0001_a-red-bus.png"]
    assert all((out / image["file"]).is_file() for image in manifest["images"])

    policy_out = tmp_path / "policy-samples"
    with_policy = cli("sample", "--model", NAME, "--scheduler", "adanat", "--steps", "8", "--prompt", "a red bus",
                      "--num", "2", "--out", str(policy_out))
    assert with_policy.code == 0, with_policy.err
    manifest = json.loads((policy_out / "samples.json").read_text())
    assert manifest["steps"] == 8 and manifest["scheduler"]["scheduler"] == "adanat"
    assert manifest["scheduler"]["config"]["policy"].endswith("policies/adanat-T8.safetensors")

    listed = {row["name"]: row for row in cli("download", "--list", "--json").json()}
    assert listed[NAME]["cached"] and listed[NAME]["converted"]
    assert listed[NAME]["how"] == f"adanat download {NAME}"

    # converted again offline, from the cache alone
    requests, fetched = len(fake_hub), len(fake_drive)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = cli("download", NAME, "--overwrite")
    assert again.code == 0, again.err
    assert (len(fake_hub), len(fake_drive)) == (requests, fetched)


def test_offline_without_the_text_encoder_is_one_line(cli, isolated, files, monkeypatch):
    """Everything but the text encoder is cached: the message names the repo and how to get it."""
    entry = zoo.zoo_entry(NAME)
    for role in ("nnet", "fid_stats"):
        put_in_cache(isolated, entry.file(role).repo_id, entry.file(role).filename, files[role])
    for role in ("tokenizer", "policy"):
        target = drive.drive_cache_path(entry.file(role))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files[role], target)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = cli("download", NAME)
    assert result.code != 0 and one_error_line(result.err)
    assert f"{LAION}/config.json" in result.err and f"adanat download {NAME}" in result.err
    assert not (bundles_root() / NAME).exists()


def test_a_corrupt_nat_file_is_one_line_and_leaves_nothing(cli, fake_hub, fake_drive, files, tmp_path):
    corrupt = tmp_path / "nnet_ema.pth"
    corrupt.write_bytes(files["nnet"].read_bytes()[:5000])  # a truncated download
    result = cli("download", NAME, "--file", f"nnet={corrupt}")
    assert result.code != 0 and one_error_line(result.err), result.err
    assert "nnet_ema.pth" in result.err
    assert not (bundles_root() / NAME).exists()
    imported = cli("import", "--format", "muse-t2i", "--nnet", str(corrupt), "--tokenizer", str(files["tokenizer"]),
                   "--text-encoder", str(files["clip"]), "--name", "broken", "--out", str(tmp_path / "broken"))
    assert imported.code != 0 and one_error_line(imported.err), imported.err
    assert not (tmp_path / "broken").exists()


def test_import_muse_t2i_from_a_folder_and_from_the_hub_cache(cli, fake_hub, files, tmp_path):
    out = tmp_path / "cc3m-by-hand"
    result = cli("import", "--format", "muse-t2i", "--nnet", str(files["nnet"]), "--tokenizer", str(files["tokenizer"]),
                 "--text-encoder", str(files["clip"]), "--policy", str(files["policy"]), "--name", "cc3m-by-hand",
                 "--out", str(out))
    assert result.code == 0, result.err
    config = json.loads((out / "config.json").read_text())
    # a two-tower CLIP config: its top-level projection (1280) is passed, as the official code does
    assert config["text_encoder"]["config"] == {"source": str(files["clip"].resolve()), "revision": None,
                                                "projection_dim": 1280, "context_length": 77}
    assert config["recommended"]["scheduler"] == "cosine" and config["recommended"]["steps"] == 18
    assert config["schedules"]["adanat"]["8"]["policy"] == "policies/adanat-T8.safetensors"
    sampled = cli("sample", "--model", str(out), "--prompt", "a red bus", "--num", "1", "--steps", "2",
                  "--out", str(tmp_path / "s"))
    assert sampled.code == 0, sampled.err
    assert (tmp_path / "s" / "0000_a-red-bus.png").is_file()

    hub = tmp_path / "cc3m-hub"
    result = cli("import", "--format", "muse-t2i", "--nnet", str(files["nnet"]), "--tokenizer", str(files["tokenizer"]),
                 "--text-encoder", LAION, "--name", "cc3m-hub", "--out", str(hub))
    assert result.code == 0, result.err
    assert json.loads((hub / "config.json").read_text())["text_encoder"]["config"] == {
        "source": LAION, "revision": COMMIT, "projection_dim": 1280, "context_length": 77}
    sampled = cli("sample", "--model", str(hub), "--prompt", "a red bus", "--num", "1", "--steps", "2",
                  "--out", str(tmp_path / "s2"))
    assert sampled.code == 0, sampled.err


def test_import_refuses_a_missing_or_mismatched_text_encoder(cli, isolated, files, tmp_path):
    base = ["import", "--format", "muse-t2i", "--nnet", str(files["nnet"]), "--tokenizer", str(files["tokenizer"]),
            "--name", "x", "--out", str(tmp_path / "x")]
    missing = cli(*base)
    assert missing.code != 0 and "--text-encoder" in missing.err
    narrow = tiny_clip_folder(tmp_path / "narrow-clip", text_width=32)
    mismatched = cli(*base, "--text-encoder", str(narrow))
    assert mismatched.code != 0 and one_error_line(mismatched.err)
    assert "32 wide" in mismatched.err and "48-wide" in mismatched.err
    neither = cli(*base, "--text-encoder", "not a repo id")
    assert neither.code != 0 and one_error_line(neither.err) and "neither a folder nor" in neither.err
    class_model = cli("import", "--format", "muse", "--nnet", str(files["nnet"]), "--tokenizer", str(files["tokenizer"]),
                      "--text-encoder", str(files["clip"]), "--name", "y", "--out", str(tmp_path / "y"))
    assert class_model.code != 0 and "class-conditional" in class_model.err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
