"""``adanat fid``: folder-vs-folder and folder-vs-statistics, precision/recall, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from adanat_cli.metrics.precision_recall import precision_recall


def _write_images(folder, arrays):
    folder.mkdir(parents=True, exist_ok=True)
    for i, array in enumerate(arrays):
        Image.fromarray(array).save(folder / f"{i:04d}.png")
    return folder


def _blobs(n, seed, shift=0.0, size=16):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 1, (n, 1, 1, 3)) * 200 + shift
    noise = rng.normal(0, 20, (n, size, size, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def test_fid_of_a_folder_with_itself_is_zero(cli, tmp_path, toy_extractor):
    folder = _write_images(tmp_path / "a", _blobs(60, 0))
    result = cli("fid", str(folder), str(folder), "-x", "toy", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert abs(report["fid"]) < 1e-6
    assert report["precision"] == 1.0 and report["recall"] == 1.0


def test_similar_sets_score_far_below_shifted_ones(cli, tmp_path, toy_extractor):
    a = _write_images(tmp_path / "a", _blobs(80, 1))
    b = _write_images(tmp_path / "b", _blobs(80, 2))
    far = _write_images(tmp_path / "far", _blobs(80, 3, shift=120))
    near = cli("fid", str(a), str(b), "-x", "toy", "--json").json()["fid"]
    distant = cli("fid", str(a), str(far), "-x", "toy", "--json").json()["fid"]
    assert 10 * near < distant


def test_stored_statistics_round_trip(cli, tmp_path, toy_extractor):
    a = _write_images(tmp_path / "a", _blobs(50, 4))
    b = _write_images(tmp_path / "b", _blobs(50, 5))
    made = cli("fid", "--make-stats", "mine", str(b), "-x", "toy")
    assert made.code == 0, made.err
    direct = cli("fid", str(a), str(b), "-x", "toy", "--json").json()
    stored = cli("fid", str(a), "--stats", "mine", "-x", "toy", "--json").json()
    assert stored["fid"] == pytest.approx(direct["fid"], abs=1e-9)
    assert stored["precision"] == pytest.approx(direct["precision"])
    again = cli("fid", "--make-stats", "mine", str(b), "-x", "toy")
    assert again.code != 0 and "--overwrite" in again.err


def test_sample_output_folders_use_their_manifest(cli, toy_bundle, tmp_path, toy_extractor):
    out = tmp_path / "samples"
    assert cli("sample", "-m", str(toy_bundle), "-c", "0,1", "-n", "3", "-o", str(out)).code == 0
    result = cli("fid", str(out), str(out), "-x", "toy", "--json")
    assert result.code == 0, result.err
    assert result.json()["count_a"] == 6  # grid.png is not counted


def test_precision_recall_of_identical_sets_is_one_and_of_disjoint_sets_zero():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 8))
    assert precision_recall(real, real.copy(), k=3) == (1.0, 1.0)
    p, r = precision_recall(real, real + 100.0, k=3)
    assert p == 0.0 and r == 0.0


@pytest.mark.parametrize("case", ["empty", "not_images", "one_image", "mixed_sizes", "corrupt", "missing"])
def test_bad_folders_are_one_line(cli, tmp_path, toy_extractor, case):
    good = _write_images(tmp_path / "good", _blobs(5, 0))
    bad = tmp_path / "bad"
    bad.mkdir()
    if case == "not_images":
        (bad / "notes.txt").write_text("hello")
    elif case == "one_image":
        _write_images(bad, _blobs(1, 0))
    elif case == "mixed_sizes":
        _write_images(bad, _blobs(3, 0))
        Image.fromarray(_blobs(1, 1, size=8)[0]).save(bad / "small.png")
    elif case == "corrupt":
        _write_images(bad, _blobs(3, 0))
        (bad / "broken.png").write_bytes(b"not a png at all")
    elif case == "missing":
        bad = tmp_path / "nowhere"
    result = cli("fid", str(bad), str(good), "-x", "toy")
    assert result.code != 0
    assert result.err.startswith("Error:") and len(result.err.strip().splitlines()) == 1, result.err


@pytest.mark.parametrize("args, message", [
    (["-x", "nope"], "unknown feature extractor 'nope'"),
    (["--stats", "nothing", "-x", "toy"], "no statistics named 'nothing'"),
])
def test_unknown_names_are_one_line(cli, tmp_path, toy_extractor, args, message):
    good = _write_images(tmp_path / "good", _blobs(5, 0))
    extra = [] if "--stats" in args else [str(good)]
    result = cli("fid", str(good), *extra, *args)
    assert result.code != 0 and message in result.err, result.err


def test_wrong_argument_shapes(cli, tmp_path, toy_extractor):
    good = _write_images(tmp_path / "good", _blobs(5, 0))
    assert "give two folders" in cli("fid", str(good), "-x", "toy").err
    assert "exactly one folder" in cli("fid", str(good), str(good), "--make-stats", "x", "-x", "toy").err


def test_inception_offline_says_where_to_put_the_weights(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("ADANAT_CACHE", str(tmp_path / "cache"))
    good = _write_images(tmp_path / "good", _blobs(5, 0))
    result = cli("fid", str(good), str(good), "-x", "inception")
    assert result.code != 0
    assert "inception-2015-12-05.pt" in result.err and str(tmp_path / "cache") in result.err
    assert len(result.err.strip().splitlines()) == 1
