"""The package's shape: imports point down the layers, no file cycles, no hidden imports.

The rules live in ``scripts/import_graph.py`` (which also draws the graph for docs/architecture.md);
these tests run them on the real package and prove, on a small fake package, that they catch a
violation.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def graph(load_script):
    return load_script("import_graph")


def test_every_import_points_down_and_no_file_cycle(graph):
    assert graph.violations() == []


def test_every_part_of_the_package_has_a_layer(graph):
    parts = {graph.part_of(graph.module_name(p)) for p in graph.PACKAGE.rglob("*.py")}
    assert parts <= set(graph.LEVEL), sorted(parts - set(graph.LEVEL))


def test_function_level_imports_of_our_own_modules_are_only_deferrals(graph):
    inner = [e for e in graph.imports() if e.in_function]
    assert all("deferred" in e.comment for e in inner)
    assert len(inner) <= 1  # outputs -> plots (matplotlib); was 31 before the 0.2 layout


def test_the_rules_catch_an_upward_import_a_cycle_and_a_hidden_import(graph, tmp_path, monkeypatch):
    package = tmp_path / "adanat_cli"
    (package / "schedulers").mkdir(parents=True)
    (package / "engine").mkdir()
    for init in (package, package / "schedulers", package / "engine"):
        (init / "__init__.py").write_text("")
    (package / "schedulers" / "base.py").write_text("from ..engine.state import State\n")  # up a layer
    (package / "engine" / "state.py").write_text("from ..schedulers.base import Scheduler\n")
    (package / "errors.py").write_text("def f():\n    from .io import x\n")
    (package / "io.py").write_text("from .errors import f\n")
    monkeypatch.setattr(graph, "PACKAGE", package)
    problems = "\n".join(graph.violations())
    assert "from layer 'schedulers' up to 'engine'" in problems
    assert "inside a function without" in problems
    assert "import cycle between files: adanat_cli.engine.state -> adanat_cli.schedulers.base" in problems


def test_a_module_named_in_a_string_counts_as_an_import(graph, tmp_path, monkeypatch):
    package = tmp_path / "adanat_cli"
    (package / "engine").mkdir(parents=True)
    for init in (package, package / "engine"):
        (init / "__init__.py").write_text("")
    (package / "engine" / "loop.py").write_text("")
    (package / "io.py").write_text('LATER = "adanat_cli.engine.loop"  # for importlib.import_module\n')
    monkeypatch.setattr(graph, "PACKAGE", package)
    assert "adanat_cli.io:1 imports adanat_cli.engine.loop: an import from layer 'io' up to 'engine'" in graph.violations()


def test_the_drawing_names_every_layer_edge(graph):
    drawing = graph.mermaid()
    assert drawing.startswith("flowchart BT")
    assert "engine --> schedulers" in drawing and "schedulers --> engine" not in drawing


def test_the_architecture_doc_shows_the_current_drawing(graph):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert graph.mermaid() in doc, "regenerate the mermaid block with `python scripts/import_graph.py`"
