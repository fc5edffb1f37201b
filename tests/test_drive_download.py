"""Google Drive zoo files through a fake downloader: cached like Hub files, verified, converted; and the
mission's path end to end: `adanat download adanat-L-imagenet256 --default`, then
`adanat sample --scheduler adanat --class "golden retriever"` with the imported policy.

The files are in the official layouts at a reduced size (a 64-wide U-ViT on a 4x4 grid) but with
ImageNet's 1,000 classes, so class names resolve as they do for the real model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants as hub_constants

from adanat_cli.models import drive, zoo
from adanat_cli.models.cache import bundles_root
from adanat_cli.schedulers.adanat_network import PolicyNet

from .test_import import golden, one_error_line


def write_imagenet_shaped_files(folder: Path) -> dict[str, Path]:
    """nnet (official U-ViT keys, 1,000 classes + null), MAGE-layout VQGAN and an official policy checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    _, nnet, _, _ = golden("uvit_small")
    _, vq, _, _ = golden("vqgan_small")
    generator = torch.Generator().manual_seed(0)
    dim = nnet["context_embed.word_embeddings.weight"].shape[1]
    nnet = {**nnet, "context_embed.word_embeddings.weight": torch.randn(1001, dim, generator=generator) * 0.02}
    torch.save(nnet, folder / "nnet_ema.pth")
    torch.save({"state_dict": vq}, folder / "vqgan_jax_strongaug.ckpt")
    torch.manual_seed(1)
    actor = PolicyNet(dim, (4, 4), hidden=16, pointwise=4, fc1=16, fc2=8)
    model = {f"{p}actor.{k}": v for p in ("policy.", "policy_old.") for k, v in actor.state_dict().items()}
    torch.save({"model": model, "args": argparse.Namespace(gen_steps=4, heu=1)}, folder / "adanat_policy.pth")
    return {"nnet": folder / "nnet_ema.pth", "tokenizer": folder / "vqgan_jax_strongaug.ckpt",
            "policy": folder / "adanat_policy.pth"}


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """Private hub cache and config folder; online as far as adanat can tell (the fake downloader never
    touches the network), no default model from the environment."""
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.delenv("ADANAT_MODEL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)  # read once, when huggingface_hub was imported
    return cache


@pytest.fixture
def fake_drive(isolated, tmp_path, monkeypatch) -> list[str]:
    """Drive file id -> a local file; every download is recorded (by id) in the returned list."""
    sources = write_imagenet_shaped_files(tmp_path / "drive")
    by_id = {}
    for role in ("nnet", "tokenizer", "policy"):
        by_id[drive.drive_file_id(zoo.zoo_entry("adanat-L-imagenet256").file(role).url)] = sources[role]
    fetched: list[str] = []

    def download(file_id: str, dest: Path) -> None:
        fetched.append(file_id)
        shutil.copyfile(by_id[file_id], dest)

    monkeypatch.setattr(drive, "downloader", download)
    return fetched


def test_drive_links_give_their_file_ids():
    assert drive.drive_file_id(zoo.MAGE_VQGAN_URL) == "13S_unB87n6KKuuMdyMnyExW0G1kplTbP"
    assert drive.drive_file_id("https://drive.google.com/uc?id=abcdefghijkl&export=download") == "abcdefghijkl"
    assert drive.drive_file_id("https://example.com/file/d/abcdefghijkl/view") is None


def test_download_default_then_sample_golden_retriever_with_the_imported_policy(cli, fake_drive, tmp_path):
    result = cli("download", "adanat-L-imagenet256", "--default")
    assert result.code == 0, result.err
    bundle = bundles_root() / "adanat-L-imagenet256"
    assert result.out.strip() == str(bundle)
    config = json.loads((bundle / "config.json").read_text())
    assert config["classes"][207] == "golden retriever"
    assert config["recommended"]["scheduler"] == "adanat"
    assert config["schedules"]["adanat"]["4"]["policy"] == "policies/adanat-T4.safetensors"
    assert sorted(fake_drive) == sorted({drive.drive_file_id(f.url) for f in zoo.zoo_entry("adanat-L-imagenet256").files})
    cached = list((bundles_root().parent / drive.DRIVE_FOLDER).glob("*/*"))
    assert len(cached) == 3 and not [p for p in cached if p.name.endswith(".part")]

    out = tmp_path / "samples"
    sampled = cli("sample", "--scheduler", "adanat", "--class", "golden retriever", "--num", "2", "--out", str(out))
    assert sampled.code == 0, sampled.err
    manifest = json.loads((out / "samples.json").read_text())
    assert manifest["model"] == "adanat-L-imagenet256" and manifest["steps"] == 4
    assert manifest["scheduler"]["config"]["policy"].endswith("policies/adanat-T4.safetensors")
    assert {image["class"] for image in manifest["images"]} == {207}
    assert all(image["file"].endswith("_class207_golden-retriever.png") for image in manifest["images"])

    again = cli("download", "adanat-L-imagenet256", "--overwrite")
    assert again.code == 0, again.err
    assert len(fake_drive) == 3  # converted again from the cache: nothing fetched twice


def test_offline_without_the_cached_file_names_the_link_and_the_place(cli, isolated, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = cli("download", "autonat-L-imagenet256")
    assert result.code != 0 and one_error_line(result.err)
    assert zoo.NAT_L_URL in result.err and str(isolated / drive.DRIVE_FOLDER) in result.err
    assert not (bundles_root() / "autonat-L-imagenet256").exists()


def test_without_gdown_the_message_says_how_to_install_it(cli, isolated, monkeypatch):
    monkeypatch.setitem(sys.modules, "gdown", None)  # import gdown -> ImportError
    result = cli("download", "autonat-L-imagenet256")
    assert result.code != 0 and one_error_line(result.err)
    assert "pip install 'adanat[drive]'" in result.err


def test_a_downloaded_file_of_the_wrong_size_is_dropped(cli, fake_drive, monkeypatch):
    entry = zoo.zoo_entry("autonat-L-imagenet256")
    files = tuple(dataclasses.replace(f, size=12345) if f.role == "nnet" else f for f in entry.files)
    monkeypatch.setattr(zoo, "_entries", {**zoo._entries, entry.name: dataclasses.replace(entry, files=files)})
    result = cli("download", "autonat-L-imagenet256")
    assert result.code != 0 and one_error_line(result.err) and "expected 12345" in result.err
    assert not list((bundles_root().parent / drive.DRIVE_FOLDER).glob("**/nnet_ema.pth*"))
    assert not (bundles_root() / "autonat-L-imagenet256").exists()


def test_a_file_without_a_link_asks_for_it_in_one_line(cli, isolated):
    result = cli("download", "enat-L-imagenet256")
    assert result.code != 0 and one_error_line(result.err)
    assert "--file nnet=PATH" in result.err


def test_a_hand_fetched_file_replaces_the_download(cli, fake_drive, tmp_path):
    files = write_imagenet_shaped_files(tmp_path / "by-hand")
    result = cli("download", "autonat-L-imagenet256", "--file", f"nnet={files['nnet']}")
    assert result.code == 0, result.err
    assert drive.drive_file_id(zoo.NAT_L_URL) not in fake_drive
    bad = cli("download", "autonat-L-imagenet256", "--file", "nnet", "--overwrite")
    assert bad.code != 0 and "ROLE=PATH" in bad.err
