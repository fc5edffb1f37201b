"""Text encoders from the Hugging Face Hub or a local folder: fetch what a transformers CLIP text model
needs, check it, and describe it for a bundle's config.json.

A text-to-image zoo entry (or ``adanat import --text-encoder``) names a CLIP repo such as
``laion/CLIP-ViT-bigG-14-laion2B-39B-b160k``. Such a repo holds much more than the text model: the
vision tower shares the checkpoint, and open_clip's own copies of the weights sit beside it
(``open_clip_pytorch_model.bin``, ``open_clip_model.safetensors``). Only the files that
``CLIPTextModelWithProjection.from_pretrained`` and ``CLIPTokenizer.from_pretrained`` read are fetched,
each with ``hf_hub_download`` into the standard cache:

- ``config.json`` (required). The commit it resolves to pins every other file and is recorded.
- The tokenizer: ``vocab.json`` + ``merges.txt`` and/or ``tokenizer.json``, with
  ``tokenizer_config.json`` and ``special_tokens_map.json`` where the repo has them.
- The weights, in the order transformers looks for them: ``model.safetensors``, the safetensors shard
  index with every shard it lists, ``pytorch_model.bin``, the pickle shard index with its shards. The
  first that exists is fetched and nothing else (transformers loads the text tower from the whole
  checkpoint, so a sharded one needs all its shards).

Offline (``HF_HUB_OFFLINE=1``, or when the Hub cannot be reached) the cache alone answers and a
missing required file is one ``NotFoundError``. The bundle then records ``{"type": "transformers-clip",
"config": {"source": repo id, "revision": commit, "projection_dim": ..., "context_length": ...}}`` and
``TransformersCLIP`` loads it from the cache with ``local_files_only``.

For a CLIP checkpoint of both towers (``model_type: clip``) the text tower's own config carries
transformers' default ``projection_dim`` (512) while the checkpoint's projection has the top-level
one; like the official AdaNAT code (``projection_dim=1280`` for ViT-bigG/14), the top-level value is
passed unless one is given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ConversionError, NotFoundError, UsageError
from .cache import hub_cache_dir, hub_offline

TEXT_ENCODER_TYPE = "transformers-clip"
CONFIG_FILE = "config.json"
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
CLIP_TYPES = ("clip", "clip_text_model")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


@dataclass(frozen=True)
class TextEncoderSource:
    """A checked text encoder, ready to be named in a bundle.

    ``spec`` is config.json's ``text_encoder`` entry; ``hidden_size`` (the context width) and
    ``positions`` (the most tokens it reads) are checked against the backbone; ``where`` names it in
    messages; ``files`` lists what was fetched from the Hub (empty for a folder).
    """

    spec: dict[str, Any]
    hidden_size: int
    positions: int
    where: str
    files: tuple[str, ...] = field(default=())

    def check_backbone(self, context_dim: int, context_length: int) -> None:
        """A ``ConversionError`` unless this encoder yields what the backbone reads."""
        if self.hidden_size != context_dim:
            raise ConversionError(
                f"the text encoder {self.where} is {self.hidden_size} wide but the model reads {context_dim}-wide "
                "contexts: they do not belong together"
            )
        if self.positions < context_length:
            raise ConversionError(
                f"the text encoder {self.where} reads at most {self.positions} tokens but the model was trained on "
                f"{context_length}"
            )


def is_repo_id(text: str) -> bool:
    return bool(_REPO_ID.match(text)) and ".." not in text


def text_encoder_dims(config_file: Path) -> tuple[int, int, int | None]:
    """(hidden size, positions, top-level projection_dim or None) of a CLIP ``config.json``."""
    try:
        config = json.loads(Path(config_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConversionError(f"{config_file} is not a readable JSON file ({str(err).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise ConversionError(f"{config_file} is not a model config (not a JSON object)")
    kind = config.get("model_type")
    if kind is not None and kind not in CLIP_TYPES:
        raise ConversionError(f"{config_file} describes a '{kind}' model, not a CLIP text model ({', '.join(CLIP_TYPES)})")
    text = config.get("text_config") if kind == "clip" or "text_config" in config else config
    if not isinstance(text, dict):
        raise ConversionError(f"{config_file}: text_config is not an object")
    try:  # transformers' CLIPTextConfig defaults where a value is absent
        hidden = int(text.get("hidden_size", 512))
        positions = int(text.get("max_position_embeddings", 77))
        projection = config.get("projection_dim") if text is not config else None
        projection = int(projection) if projection is not None else None
    except (TypeError, ValueError):
        raise ConversionError(f"{config_file}: hidden_size, max_position_embeddings or projection_dim is not a number") from None
    return hidden, positions, projection


def _spec(source: str, revision: str | None, projection_dim: int | None, context_length: int) -> dict[str, Any]:
    config: dict[str, Any] = {"source": source, "revision": revision, "projection_dim": projection_dim,
                              "context_length": context_length}
    return {"type": TEXT_ENCODER_TYPE, "config": config}


def _shards(index_file: Path) -> list[str]:
    """The shard file names an ``*.index.json`` lists, each a plain path inside the repo."""
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
        names = sorted(set(index["weight_map"].values()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise ConversionError(f"{index_file} is not a weight index (no weight_map)") from None
    for name in names:
        path = PurePosixPath(str(name))
        if not name or path.is_absolute() or ".." in path.parts or "\\" in str(name):
            raise ConversionError(f"{index_file} names the shard {name!r}, which is not a file of the repo")
    return [str(name) for name in names]


def local_text_encoder(folder: str | Path, projection_dim: int | None = None, context_length: int = 77) -> TextEncoderSource:
    """A text encoder saved with ``save_pretrained`` in ``folder`` (model and tokenizer files side by side)."""
    folder = Path(folder).expanduser().resolve()
    where = str(folder)
    if not (folder / CONFIG_FILE).is_file():
        raise NotFoundError(f"text encoder folder {folder} has no {CONFIG_FILE}")
    hidden, positions, default_projection = text_encoder_dims(folder / CONFIG_FILE)
    _check_tokenizer({name for name in TOKENIZER_FILES if (folder / name).is_file()}, where)
    weights = next((name for name in WEIGHT_FILES if (folder / name).is_file()), None)
    if weights is None:
        raise NotFoundError(f"text encoder folder {folder} holds no weights (looked for {', '.join(WEIGHT_FILES)})")
    if weights.endswith(".index.json"):
        missing = [name for name in _shards(folder / weights) if not (folder / name).is_file()]
        if missing:
            raise NotFoundError(f"text encoder folder {folder} lacks the shard {missing[0]} listed in {weights}")
    projection = projection_dim if projection_dim is not None else default_projection
    return TextEncoderSource(_spec(where, None, projection, context_length), hidden, positions, where)


def _check_tokenizer(present: set[str], where: str) -> None:
    if "tokenizer.json" not in present and not {"vocab.json", "merges.txt"} <= present:
        raise NotFoundError(f"the text encoder {where} has no tokenizer files (tokenizer.json, or vocab.json and merges.txt)")


def fetch_text_encoder(
    repo_id: str,
    revision: str | None = None,
    projection_dim: int | None = None,
    context_length: int = 77,
    cache_dir: str | Path | None = None,
    token: str | None = None,
    on_progress: Callable[[str], None] = lambda message: None,
    retry_hint: str = "",
) -> TextEncoderSource:
    """Fetch (or find in the cache) the files a transformers CLIP text model of ``repo_id`` needs.

    ``retry_hint`` ends the message of a file missing offline (e.g. "run `adanat download NAME` with
    network access").
    """
    if not is_repo_id(repo_id):
        raise UsageError(f"'{repo_id}' is not a Hugging Face repo id (owner/name)")
    fetcher = _HubFiles(repo_id, revision or "main", hub_cache_dir(cache_dir), token, hub_offline(), on_progress,
                        retry_hint)
    config = fetcher.get(CONFIG_FILE, required=True)
    commit = fetcher.pin(config)
    hidden, positions, default_projection = text_encoder_dims(config)
    tokenizer = {name for name in TOKENIZER_FILES if fetcher.get(name) is not None}
    _check_tokenizer(tokenizer, f"{repo_id}@{commit}")
    for name in WEIGHT_FILES:
        found = fetcher.get(name)
        if found is None:
            continue
        if name.endswith(".index.json"):
            for shard in _shards(found):
                fetcher.get(shard, required=True)
        break
    else:
        raise NotFoundError(
            f"no weights of {repo_id}@{commit} {fetcher.where_missing()} (looked for {', '.join(WEIGHT_FILES)})"
        )
    projection = projection_dim if projection_dim is not None else default_projection
    return TextEncoderSource(_spec(repo_id, commit, projection, context_length), hidden, positions,
                             f"{repo_id}@{commit[:12]}", tuple(fetcher.fetched))


def resolve_text_encoder(
    source: str,
    projection_dim: int | None = None,
    context_length: int = 77,
    cache_dir: str | Path | None = None,
    token: str | None = None,
    on_progress: Callable[[str], None] = lambda message: None,
) -> TextEncoderSource:
    """``source`` as a folder when one exists there, else as a Hub repo id (fetched, or from the cache)."""
    if Path(source).expanduser().is_dir():
        return local_text_encoder(source, projection_dim, context_length)
    if not is_repo_id(source):
        raise NotFoundError(f"text encoder '{source}' is neither a folder nor a Hugging Face repo id (owner/name)")
    return fetch_text_encoder(source, None, projection_dim, context_length, cache_dir, token, on_progress)


class _HubFiles:
    """``hf_hub_download`` for one repo, pinned to one commit once ``config.json`` is found."""

    def __init__(self, repo_id: str, revision: str, cache: Path, token: str | None, offline: bool,
                 on_progress: Callable[[str], None], retry_hint: str) -> None:
        self.repo_id, self.revision, self.cache, self.token = repo_id, revision, cache, token
        self.offline, self.on_progress, self.retry_hint = offline, on_progress, retry_hint
        self.fetched: list[str] = []

    def where_missing(self) -> str:
        why = "HF_HUB_OFFLINE is set" if self.offline else "the Hub has none or cannot be reached"
        return f"in the cache {self.cache} ({why})"

    def pin(self, config_path: Path) -> str:
        """The commit ``config.json`` came from (``snapshots/<commit>/config.json``); later files use it."""
        if config_path.parent.parent.name == "snapshots":
            self.revision = config_path.parent.name
        return self.revision

    def get(self, filename: str, required: bool = False) -> Path | None:
        where = f"{self.repo_id}/{filename}"
        if required and not self.offline:  # an optional file is named once found (most repos lack some)
            self.on_progress(f"fetching {where}")
        path = hub_file(self.repo_id, filename, self.revision, self.cache, self.token, self.offline,
                        self.retry_hint, required)
        if path is None:
            return None
        if not required and not self.offline:
            self.on_progress(f"fetched {where}")
        self.fetched.append(filename)
        return path


def hub_file(repo_id: str, filename: str, revision: str | None, cache: Path, token: str | None, offline: bool,
             retry_hint: str = "", required: bool = True) -> Path | None:
    """``hf_hub_download`` of one file (from the cache only when ``offline``), every Hub failure one
    ``NotFoundError`` line; an optional file (``required=False``) that does not exist is None.
    ``retry_hint`` ends the message of a file that is neither cached nor reachable."""
    # huggingface_hub is imported on first use (a heavy third-party dependency)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo_id}/{filename}"
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache, token=token,
                                    local_files_only=offline))
    except LocalEntryNotFoundError:
        if not required:
            return None
        why = "HF_HUB_OFFLINE is set" if offline else "the Hub cannot be reached"
        hint = f": {retry_hint}" if retry_hint else ""
        raise NotFoundError(f"{where} is not in the cache {cache} and {why}{hint}") from None
    except GatedRepoError:
        raise NotFoundError(f"{repo_id} is gated: accept its terms on the Hub and set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise NotFoundError(f"Hub repo {repo_id} not found (or private: set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise NotFoundError(f"revision '{revision}' not found in {repo_id}") from None
    except EntryNotFoundError:
        if not required:
            return None
        raise NotFoundError(f"{where} not found on the Hub") from None
    except HfHubHTTPError as err:
        raise NotFoundError(f"downloading {where} failed ({str(err).splitlines()[0]})") from None
