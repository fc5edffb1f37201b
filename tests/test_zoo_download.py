"""`adanat download` against a fake Hugging Face cache, offline, end to end into `adanat sample`.

The fake cache uses the real hub layout (``models--ORG--NAME/{refs/main, blobs/<sha256>,
snapshots/<commit>/<path> -> blob}``), the real repo ids and file paths, and small files in the official
key layouts (built by the helpers in ``test_import``). The architecture is read from the files; where a
zoo entry records something a small file cannot match (MUSE's heads), a test swaps in a variant
through the documented ``zoo.register_entry`` hook and restores the original afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from adanat_cli.models import zoo
from adanat_cli.models.download import bundles_root

from .test_import import one_error_line, write_maskgit_files, write_uvit_files

COMMIT = "a" * 40


def put_in_cache(cache: Path, repo_id: str, filename: str, source: Path) -> Path:
    """Place ``source`` where ``hf_hub_download`` would have stored ``repo_id``/``filename``."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    data = source.read_bytes()
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    link = repo / "snapshots" / COMMIT / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(os.path.relpath(blob, link.parent))
    return link


@pytest.fixture
def offline_cache(tmp_path, monkeypatch) -> Path:
    """An empty hub cache as HF_HUB_CACHE, with HF_HUB_OFFLINE=1 (read by adanat at call time)."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HOME", raising=False)
    return cache


@pytest.fixture
def fake_hub(offline_cache, tmp_path) -> Path:
    """The offline cache holding every Hub-hosted zoo file (MaskGIT 256/512, MUSE nnet). The files are
    scaled down, so the entries are swapped for copies without the real files' sizes and digests."""
    nnet256, vq, yaml_file = write_maskgit_files(tmp_path / "maskgit")
    nnet512, _, _ = write_maskgit_files(tmp_path / "maskgit", "MaskGIT_ImageNet_512.pth")
    uvit_nnet, _ = write_uvit_files(tmp_path / "uvit")
    fakes = {
        "maskgit-imagenet256": {"nnet": nnet256, "tokenizer": vq, "tokenizer_config": yaml_file},
        "maskgit-imagenet512": {"nnet": nnet512, "tokenizer": vq, "tokenizer_config": yaml_file},
        "muse-imagenet256": {"nnet": uvit_nnet},
    }
    for entry_name, sources in fakes.items():
        entry = zoo.zoo_entry(entry_name)
        files = tuple(dataclasses.replace(f, size=None, sha256=None) for f in entry.files)
        zoo.register_entry(dataclasses.replace(entry, files=files), replace=True)
        for role, source in sources.items():
            file = entry.file(role)
            put_in_cache(offline_cache, file.repo_id, file.filename, source)
    yield offline_cache
    for entry_name in fakes:
        zoo.unregister_entry(entry_name)


def test_recorded_sizes_and_digests_are_exact():
    """Only exact values are recorded: a byte count and a 64-hex-digit SHA-256, never a rounded size."""
    recorded = [f for e in zoo.zoo_entries() for f in e.files if f.size is not None or f.sha256 is not None]
    assert {f.filename for f in recorded} >= {"pretrained_maskgit/MaskGIT/MaskGIT_ImageNet_256.pth",
                                              "pretrained_maskgit/VQGAN/last.ckpt"}
    for f in recorded:
        assert isinstance(f.size, int) and f.size > 0
        assert f.sha256 is not None and len(f.sha256) == 64 and int(f.sha256, 16) >= 0


def test_a_cached_file_of_the_wrong_size_is_refused(cli, offline_cache, tmp_path):
    """The real entry's recorded size is checked before conversion: a scaled-down file is not the
    published one."""
    nnet256, vq, yaml_file = write_maskgit_files(tmp_path / "maskgit")
    entry = zoo.zoo_entry("maskgit-imagenet256")
    for role, source in {"nnet": nnet256, "tokenizer": vq, "tokenizer_config": yaml_file}.items():
        put_in_cache(offline_cache, entry.file(role).repo_id, entry.file(role).filename, source)
    result = cli("download", "maskgit-imagenet256")
    assert result.code != 0 and one_error_line(result.err) and "expected 2090306069" in result.err
    assert not (bundles_root() / "maskgit-imagenet256").exists()


@pytest.fixture
def small_muse_entry():
    """muse-imagenet256 with the heads of the small U-ViT (the real entry does not record them)."""
    zoo.register_entry(dataclasses.replace(zoo.zoo_entry("muse-imagenet256"), num_heads=4), replace=True)
    yield
    zoo.unregister_entry("muse-imagenet256")


def test_offline_download_then_sample_by_name(cli, fake_hub, tmp_path):
    result = cli("download", "maskgit-imagenet256")
    assert result.code == 0, result.err
    bundle = bundles_root() / "maskgit-imagenet256"
    assert result.out.strip() == str(bundle) and bundle.parent.parent == fake_hub
    sampled = cli("sample", "--model", "maskgit-imagenet256", "--class", "3", "--num", "1", "--steps", "2",
                  "--out", str(tmp_path / "samples"))
    assert sampled.code == 0, sampled.err
    assert (tmp_path / "samples" / "samples.json").is_file()
    again = cli("download", "maskgit-imagenet256")
    assert again.code == 0 and "already converted" in again.err


def test_offline_download_of_the_512_entry(cli, fake_hub):
    result = cli("download", "maskgit-imagenet512")
    assert result.code == 0, result.err
    assert (bundles_root() / "maskgit-imagenet512" / "config.json").is_file()


def test_muse_takes_its_drive_hosted_tokenizer_from_a_local_file(cli, fake_hub, small_muse_entry, tmp_path):
    _, vq = write_uvit_files(tmp_path / "drive")
    missing = cli("download", "muse-imagenet256")
    assert missing.code != 0 and one_error_line(missing.err)
    assert "vqgan_jax_strongaug.ckpt" in missing.err and zoo.MAGE_VQGAN_URL in missing.err
    result = cli("download", "muse-imagenet256", "--tokenizer", str(vq))
    assert result.code == 0, result.err
    sampled = cli("sample", "--model", "muse-imagenet256", "--class", "1", "--num", "1", "--steps", "2",
                  "--out", str(tmp_path / "samples"))
    assert sampled.code == 0, sampled.err


def test_offline_with_an_empty_cache_is_one_line(cli, offline_cache):
    result = cli("download", "maskgit-imagenet256")
    assert result.code != 0 and one_error_line(result.err)
    assert "MaskGIT_ImageNet_256.pth" in result.err and "HF_HUB_OFFLINE" in result.err
    assert "adanat download maskgit-imagenet256" in result.err
    assert not (bundles_root() / "maskgit-imagenet256").exists()


def test_a_zoo_name_not_downloaded_says_how_to_get_it(cli, offline_cache, tmp_path):
    result = cli("sample", "--model", "maskgit-imagenet256", "--class", "3", "--out", str(tmp_path / "s"))
    assert result.code != 0 and "run `adanat download maskgit-imagenet256` first" in result.err


def test_list_reports_cached_and_converted(cli, fake_hub):
    before = {row["name"]: row for row in cli("download", "--list", "--json").json()}
    assert before["maskgit-imagenet256"]["cached"] and not before["maskgit-imagenet256"]["converted"]
    assert not before["autonat-L-imagenet256"]["cached"]
    assert before["autonat-L-imagenet256"]["how"] == "adanat download autonat-L-imagenet256"  # Google Drive
    assert before["enat-L-imagenet256"]["how"] == "adanat download enat-L-imagenet256 --file nnet=PATH"
    assert cli("download", "maskgit-imagenet256").code == 0
    after = {row["name"]: row for row in cli("download", "--list", "--json").json()}
    assert after["maskgit-imagenet256"]["converted"] and after["maskgit-imagenet256"]["cached_bytes"] > 0
    table = cli("download", "--list")
    assert table.code == 0 and "maskgit-imagenet256" in table.out and "enat-L-imagenet256" in table.out


def test_a_recorded_checksum_that_does_not_match_is_refused(cli, fake_hub):
    entry = zoo.zoo_entry("maskgit-imagenet256")
    files = tuple(dataclasses.replace(f, sha256="0" * 64) if f.role == "nnet" else f for f in entry.files)
    zoo.register_entry(dataclasses.replace(entry, files=files), replace=True)
    try:
        result = cli("download", "maskgit-imagenet256")
    finally:
        zoo.unregister_entry("maskgit-imagenet256")
    assert result.code != 0 and one_error_line(result.err) and "SHA-256" in result.err
    assert not (bundles_root() / "maskgit-imagenet256").exists()


def test_drive_entries_offline_say_what_to_fetch_and_where(cli, offline_cache):
    result = cli("download", "autonat-L-imagenet256")
    assert result.code != 0 and one_error_line(result.err)
    assert zoo.NAT_L_URL in result.err and "adanat-drive" in result.err
    enat = cli("download", "enat-L-imagenet256")
    assert enat.code != 0 and one_error_line(enat.err) and "--file nnet=PATH" in enat.err
