"""Class names: `--class` by index, name or unique prefix; `adanat classes`; names in files and grids."""

from __future__ import annotations

import json

import pytest

from adanat_cli.data.class_names import default_class_names, imagenet_class_names
from adanat_cli.errors import UsageError
from adanat_cli.models.classes import parse_classes, resolve_class, search_classes

NAMES = imagenet_class_names()


def test_imagenet_names_are_in_label_order():
    assert len(NAMES) == 1000 and len(set(NAMES)) == 1000
    assert (NAMES[0], NAMES[1], NAMES[207], NAMES[999]) == ("tench", "goldfish", "golden retriever", "toilet tissue")
    assert default_class_names(1000) == list(NAMES) and default_class_names(3) == ["0", "1", "2"]


def test_an_index_a_name_or_a_unique_prefix():
    assert resolve_class("207", NAMES, "m") == 207
    assert resolve_class("Golden Retriever", NAMES, "m") == 207
    assert resolve_class("golden retr", NAMES, "m") == 207
    assert parse_classes(["tench,goldfish", "3"], NAMES, "m") == [0, 1, 3]


def test_an_ambiguous_prefix_lists_the_candidates():
    with pytest.raises(UsageError, match=r"ambiguous.*great white shark \(2\), great grey owl \(24\)"):
        resolve_class("great", NAMES, "m")
    assert resolve_class("golden", NAMES, "m") == 207  # "goldfish" and "goldfinch" do not start with it


def test_search_puts_exact_and_prefix_matches_first():
    found = search_classes(NAMES, "retriever")
    assert (207, "golden retriever") in found and all("retriever" in n for _, n in found)
    assert search_classes(NAMES, "tench")[0] == (0, "tench")


def test_an_imagenet_name_on_tiny_mnist_points_to_the_imagenet_models(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("ADANAT_MODEL", raising=False)
    result = cli("sample", "--class", "golden retriever", "--out", str(tmp_path / "o"))
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert "no class named 'golden retriever'" in result.err
    assert "`adanat download adanat-L-imagenet256 --default`" in result.err
    other = cli("sample", "--class", "zebra-crossing", "--out", str(tmp_path / "o"))
    assert other.code == 2 and "download" not in other.err and "adanat classes" in other.err


def test_classes_command_lists_and_searches(cli):
    listed = cli("classes", "-m", "tiny-mnist")
    assert listed.code == 0 and listed.out.splitlines() == [f"{i}  {i}" for i in range(10)]
    found = cli("classes", "7", "--json")
    assert json.loads(found.out) == [{"index": 7, "name": "7"}]
    none = cli("classes", "zebra")
    assert none.code == 1 and "no class of 'tiny-mnist' contains 'zebra'" in none.err


def test_grid_rows_are_captioned_with_class_names(cli, tmp_path):
    from PIL import Image

    out = tmp_path / "s"
    result = cli("sample", "-c", "1,2", "-n", "2", "-T", "2", "--upscale", "4", "-o", str(out))
    assert result.code == 0, result.err
    grid = Image.open(out / "grid.png")
    image = Image.open(out / "0000_class1.png")
    assert grid.height == 2 * image.height + 3 * 2 * 4  # two rows, padding 2 px before upscaling
    assert grid.width > 2 * image.width + 3 * 2 * 4  # plus the band that names the rows
