"""Help that reads well: prose wraps at the terminal's width, every command shows real examples, and
`adanat` alone prints a quick start."""

from __future__ import annotations

import pytest
import typer
from typer.main import get_command

from adanat_cli.cli.app import app
from adanat_cli.cli.helptext import reflow


def _commands():
    group = get_command(app)
    context = typer.Context(group, info_name="adanat")
    for name in group.list_commands(context):  # each command as the CLI loads it (imported on demand)
        command = group.get_command(context, name)
        yield name, command
        for sub_name, sub in getattr(command, "commands", {}).items():
            yield f"{name} {sub_name}", sub


def test_reflow_joins_prose_and_keeps_examples():
    doc = """Summary line.

    A sentence broken
    over two lines.

    Examples:
      adanat one
      adanat two
    """
    assert reflow(doc) == "Summary line.\n\nA sentence broken over two lines.\n\nExamples:\n  adanat one\n  adanat two"


@pytest.mark.parametrize("name, command", [c for c in _commands() if " " not in c[0]], ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_has_two_or_three_examples_and_unbroken_prose(name, command):
    paragraphs = command.help.split("\n\n")
    examples = [p for p in paragraphs if p.startswith("Examples:")]
    assert len(examples) == 1, f"{name}: no Examples paragraph"
    lines = examples[0].splitlines()[1:]
    assert 2 <= len(lines) <= 3 and all(line.startswith("  ") and "adanat" in line for line in lines), lines
    for prose in paragraphs:
        if not prose.startswith("Examples:"):
            assert "\n" not in prose, f"{name}: a hard line break inside a paragraph"


def test_help_wraps_at_the_terminal_width(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    narrow = cli("train-policy", "--help")
    monkeypatch.setenv("COLUMNS", "200")
    wide = cli("train-policy", "--help")
    assert narrow.code == wide.code == 0
    assert max(len(line) for line in narrow.out.splitlines()) <= 60
    sentence = "Trajectories are generated with actions sampled around the policy's mean; the reward scores the final images"
    assert sentence in wide.out  # one line when the terminal is wide enough


def test_adanat_alone_prints_a_quick_start(cli, monkeypatch):
    monkeypatch.delenv("ADANAT_MODEL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent-adanat-config")
    result = cli()
    assert result.code == 0
    assert "Quick start (default model: tiny-mnist" in result.out
    for command in ("adanat sample --scheduler adanat --class 3", "adanat compare --schedulers cosine,adanat",
                    "adanat train-policy"):
        assert command in result.out
    assert len(result.out.splitlines()) <= 12
