"""Command help that wraps at the terminal's width.

Docstrings are wrapped at 100 columns in the source; shown as they are, every source line break
would break the help mid-sentence. Here each prose paragraph becomes one line (the console wraps it)
while an ``Examples:`` paragraph keeps one command per line.
"""

from __future__ import annotations

import inspect

import typer


def reflow(doc: str | None) -> str | None:
    """``doc`` with its prose paragraphs joined into single lines; example paragraphs kept."""
    if not doc:
        return doc
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    out = []
    for paragraph in paragraphs:
        lines = paragraph.splitlines()
        if lines and (lines[0].rstrip().endswith(":") or all(line.startswith(" ") for line in lines)):
            out.append("\n".join(line.rstrip() for line in lines))
        else:
            out.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def reflow_all(app: typer.Typer) -> None:
    """Give every command (and sub-command) of ``app`` its reflowed docstring as help."""
    for info in app.registered_commands:
        if info.help is None and info.callback is not None:
            info.help = reflow(inspect.getdoc(info.callback))
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is None:
            continue
        if group.help is None and sub.registered_callback is not None and sub.registered_callback.callback is not None:
            group.help = reflow(inspect.getdoc(sub.registered_callback.callback))
        reflow_all(sub)
