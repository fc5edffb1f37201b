"""The model a command uses without --model ($ADANAT_MODEL, `adanat config`, tiny-mnist), and the
one-line hint when a class is outside the model's range."""

from __future__ import annotations

import json

import pytest

from adanat_cli.settings import config_file, default_model


@pytest.fixture(autouse=True)
def private_config(tmp_path, monkeypatch):
    monkeypatch.delenv("ADANAT_MODEL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))


def test_environment_beats_config_file_beats_fallback(monkeypatch, cli):
    assert default_model() == "tiny-mnist"
    assert cli("config", "set", "model", "tiny-mnist-enat").code == 0
    assert json.loads(config_file().read_text()) == {"model": "tiny-mnist-enat"}
    assert default_model() == "tiny-mnist-enat"
    monkeypatch.setenv("ADANAT_MODEL", "tiny-mnist")
    assert default_model() == "tiny-mnist"
    shown = cli("config")
    assert "default model: tiny-mnist (from $ADANAT_MODEL)" in shown.out
    monkeypatch.delenv("ADANAT_MODEL")
    assert cli("config", "unset", "model").code == 0
    assert default_model() == "tiny-mnist"


def test_sample_without_model_uses_the_environment(monkeypatch, cli, tmp_path):
    monkeypatch.setenv("ADANAT_MODEL", "tiny-mnist-enat")
    out = tmp_path / "s"
    result = cli("sample", "--class", "3", "--num", "1", "--out", str(out))
    assert result.code == 0, result.err
    assert json.loads((out / "samples.json").read_text())["model"] == "tiny-mnist-enat"


def test_config_refuses_unknown_settings_and_models_it_cannot_find(cli):
    bad_key = cli("config", "set", "colour", "blue")
    assert bad_key.code == 2 and "unknown setting 'colour'" in bad_key.err
    unknown = cli("config", "set", "model", "nope")
    assert unknown.code == 3 and "unknown model 'nope'" in unknown.err
    missing = cli("config", "set", "model", "adanat-L-imagenet256")
    assert missing.code == 3 and "adanat download adanat-L-imagenet256" in missing.err
    assert not config_file().exists()


def test_a_class_outside_the_range_names_models_that_have_it_in_one_line(cli, tmp_path):
    result = cli("sample", "--scheduler", "adanat", "--class", "207", "--out", str(tmp_path / "o"))
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1
    assert "adanat-L-imagenet256" in lines[0] and "`adanat download adanat-L-imagenet256 --default`" in lines[0]
    negative = cli("sample", "--class", "-1", "--out", str(tmp_path / "o"))
    assert negative.code == 2 and "download" not in negative.err
