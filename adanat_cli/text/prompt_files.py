"""Reading prompts: ``--prompt`` values and ``--prompts``/``--captions`` files (one caption a line)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import UsageError

MAX_PROMPT_CHARS = 1000


def read_prompt_file(path: Path, option: str = "--prompts") -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped; one clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{option} {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{option} {path}: not a UTF-8 text file (one caption a line)") from None
    except OSError as err:
        raise UsageError(f"{option} {path}: cannot read it ({err.strerror})") from None
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        raise UsageError(f"{option} {path} holds no caption (one caption a line)")
    return check_prompts(prompts, option)


def check_prompts(prompts: Sequence[str], option: str = "--prompt") -> list[str]:
    checked = []
    for prompt in prompts:
        if "\x00" in prompt:
            raise UsageError(f"{option}: a prompt contains a NUL character")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise UsageError(f"{option}: a prompt is {len(prompt)} characters long; the limit is {MAX_PROMPT_CHARS}")
        checked.append(prompt)
    return checked


def gather_prompts(prompts: Sequence[str], prompt_file: Path | None) -> list[str]:
    """``--prompt`` values (repeatable; an empty one asks for an unconditional image) followed by the
    lines of ``--prompts``."""
    gathered = check_prompts(list(prompts))
    if prompt_file is not None:
        gathered += read_prompt_file(prompt_file)
    return gathered
