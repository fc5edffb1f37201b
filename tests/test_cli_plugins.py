"""``adanat plugins`` and entry-point discovery."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from adanat_cli import registry as registry_module
from adanat_cli.registry import registry


def test_builtins_are_listed_through_entry_points(cli):
    result = cli("plugins", "--json")
    assert result.code == 0
    found = {(p["name"], p["group"]): p for p in result.json()["plugins"]}
    for name in ("cosine", "linear", "square", "root", "arccos", "autonat"):
        assert found[(name, "adanat.schedulers")]["distribution"] == "adanat"
    assert found[("uvit", "adanat.backbones")]["description"]
    assert ("vqgan-taming", "adanat.tokenizers") in found
    for name in ("clip", "transformers-clip"):
        assert found[(name, "adanat.text_encoders")]["distribution"] == "adanat"


def test_group_filter_and_unknown_group(cli):
    result = cli("plugins", "--json", "--group", "tokenizers")
    assert {p["group"] for p in result.json()["plugins"]} == {"adanat.tokenizers"}
    bad = cli("plugins", "--group", "nope")
    assert bad.code != 0 and "unknown plugin group 'nope'" in bad.err


@pytest.fixture
def broken_entry_point(monkeypatch):
    real = registry_module.entry_points

    def with_broken(group):
        eps = list(real(group=group))
        if group == "adanat.schedulers":
            eps.append(EntryPoint(name="broken", value="adanat_no_such_module:Nothing", group=group))
        return eps

    monkeypatch.setattr(registry_module, "entry_points", with_broken)
    registry.refresh()
    yield
    registry.refresh()


def test_a_broken_plugin_is_reported_and_skipped(cli, broken_entry_point):
    result = cli("plugins", "--json")
    assert result.code == 0
    data = result.json()
    assert any(b["name"] == "broken" and "adanat_no_such_module" in b["error"] for b in data["broken"])
    assert "cosine" in {p["name"] for p in data["plugins"]}
    table = cli("plugins")
    assert table.code == 0 and "failed to load" in table.err


def test_using_a_broken_plugin_names_the_failure(cli, broken_entry_point, tmp_path):
    from adanat_cli.errors import NotFoundError

    with pytest.raises(NotFoundError, match="failed to load"):
        registry.get("schedulers", "broken")


def test_version(cli):
    result = cli("--version")
    assert result.code == 0 and result.out.startswith("adanat ")
