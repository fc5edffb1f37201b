"""Start-up: `adanat --help`, `adanat --version` and `adanat` alone import no command module, so
neither torch nor numpy nor matplotlib; a command imports what it needs when it is used. Timings
are measured by benchmarks/startup.py, never here."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.main import get_command

from adanat_cli.cli.app import COMMANDS, app

HEAVY = ("torch", "numpy", "matplotlib")

# runs the CLI's entry function in a fresh interpreter, then names the heavy modules it imported
PROBE = f"""
import sys
from adanat_cli.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as exit_:
    assert not exit_.code, exit_.code
print("imported:", *[m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)
"""


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False, timeout=300)


@pytest.mark.parametrize("args", [["--help"], ["--version"], []], ids=["help", "version", "alone"])
def test_help_version_and_quick_start_import_no_heavy_module(args):
    done = _run("-c", PROBE, *args)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "imported:", done.stderr
    assert done.stdout.strip()


def test_a_command_still_loads_when_used():
    done = _run("-m", "adanat_cli", "sample", "--help")
    assert done.returncode == 0, done.stderr
    assert "--class" in done.stdout
    version = _run("-m", "adanat_cli", "--version")
    assert version.returncode == 0 and version.stdout.startswith("adanat "), version.stderr


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listing_shows_the_first_line_of_each_commands_own_help(name):
    group = get_command(app)
    command = group.get_command(typer.Context(group, info_name="adanat"), name)
    assert command.help.splitlines()[0] == COMMANDS[name][1]


def test_the_listing_names_every_command(cli):
    result = cli("--help")
    assert result.code == 0
    for name in COMMANDS:
        assert name in result.out
