"""Atomic file writes: a reader never sees a half-written output, and a crash leaves no partial file."""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import OutputExistsError


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _default_mode() -> int:
    """The permissions a plain ``open(..., "w")`` would give (mkstemp's files are private, 0600)."""
    return 0o666 & ~_umask()


def _readable_tree(folder: Path) -> None:
    """Give a staging folder (mkdtemp: 0700) and what it holds the modes ``mkdir``/``open`` would."""
    umask = _umask()
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, _default_mode())
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_stale_staging(final: Path) -> None:
    """Remove the hidden staging files and folders of ``final`` (``.<name>.<pid>.*``) whose process
    is gone: what a run killed with SIGKILL (or a power cut) leaves behind."""
    final = Path(final)
    if not final.parent.is_dir():
        return
    for leftover in final.parent.glob(f".{glob.escape(final.name)}.*"):
        pid = leftover.name[len(final.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


def staging_dir(final: Path) -> Path:
    """A fresh hidden folder beside ``final`` to build it in (``.<name>.<pid>.<random>``), after
    removing stale ones of dead processes."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(final)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", dir=final.parent))


def write_with_atomic(path: Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` only if it succeeded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _default_mode())
    try:
        writer(Path(tmp))
        os.chmod(tmp, _default_mode())  # again: some writers (safetensors) replace the file, 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_writable(out: Path, overwrite: bool, folder: bool = True) -> None:
    """Fail before any work is done if ``out`` exists and may not be replaced (or, for a ``folder``
    output, exists as something else)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")
    if folder and out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")


def replace_dir_atomic(staging: Path, final: Path, overwrite: bool) -> None:
    """Move a fully written ``staging`` folder onto ``final`` (removing the old one if allowed)."""
    staging, final = Path(staging), Path(final)
    _readable_tree(staging)
    if final.exists():
        if not overwrite:
            shutil.rmtree(staging, ignore_errors=True)
            ensure_writable(final, overwrite, folder=False)
        trash = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, trash)
        os.replace(staging, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, final)


def read_json_object(path: Path, what: str, error: type[Exception]) -> dict:
    """The JSON object in ``path``; ``error("<what> <path> ...")`` if it is missing, unreadable,
    not JSON, or not an object."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"cannot read {what} {path}: {err}") from None
    except json.JSONDecodeError as err:
        raise error(f"{what} {path} is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise error(f"{what} {path} must hold a JSON object")
    return data
