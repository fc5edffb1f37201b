"""User settings: the model every command uses when ``--model`` is absent.

The default model is, in order: ``$ADANAT_MODEL``; the ``model`` entry of the user config file
(``adanat config set model NAME`` or ``adanat download NAME --default`` write it); ``tiny-mnist``.
The file is ``config.json`` in the platform's user config folder for ``adanat`` (platformdirs:
``$XDG_CONFIG_HOME/adanat`` or ``~/.config/adanat`` on Linux, ``~/Library/Application Support/adanat``
on macOS, ``%LOCALAPPDATA%\\adanat`` on Windows).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import platformdirs

from .errors import UsageError
from .io import read_json_object, write_text_atomic

FALLBACK_MODEL = "tiny-mnist"
KEYS = {"model": "the model used when --model is absent"}


def config_file() -> Path:
    return Path(platformdirs.user_config_dir("adanat", appauthor=False)) / "config.json"


def read_settings() -> dict[str, Any]:
    file = config_file()
    if not file.is_file():
        return {}
    return read_json_object(file, "adanat config file", UsageError)


def write_setting(key: str, value: str | None) -> Path:
    """Set ``key`` (or remove it when ``value`` is None) in the user config file, atomically."""
    if key not in KEYS:
        raise UsageError(f"unknown setting '{key}' (known: {', '.join(KEYS)})")
    settings = read_settings()
    if value is None:
        settings.pop(key, None)
    else:
        settings[key] = value
    file = config_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(file, json.dumps(settings, indent=2) + "\n")
    return file


def default_model_and_source() -> tuple[str, str]:
    """The default model and where it comes from (for people reading ``adanat config``)."""
    if os.environ.get("ADANAT_MODEL"):
        return os.environ["ADANAT_MODEL"], "$ADANAT_MODEL"
    configured = read_settings().get("model")
    if configured:
        return configured, str(config_file())
    return FALLBACK_MODEL, "built-in fallback"


def default_model() -> str:
    return default_model_and_source()[0]
