"""A Hugging Face CLIP text model as a text encoder plugin (``transformers-clip``).

The way the official MUSE/AdaNAT code encodes CC3M captions: ``transformers.CLIPTokenizer`` with
``pad_token_id = 0`` ("align with cc3m muse ckpt pretraining") and ``max_length=77,
padding="max_length", truncation=True``, then ``CLIPTextModelWithProjection``; ``last_hidden_state`` is
the context and ``text_embeds`` the pooled vector. ``source`` is a local folder or a Hub repo id; a
repo id is read from the Hugging Face cache only (nothing is downloaded here: fetching is a download
command's job). transformers is imported when an encoder is built, never at start-up; it comes with
``pip install 'adanat[text]'``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..errors import BundleError, NotFoundError, UsageError
from .base import TextEmbedding, TextEncoder

MISSING = "the transformers CLIP text encoder needs transformers: pip install 'adanat[text]'"


def _transformers() -> Any:
    try:
        import transformers  # heavy third-party dependency, imported on first use
    except ImportError:
        raise UsageError(MISSING) from None
    return transformers


@contextmanager
def _quiet(transformers: Any) -> Iterator[None]:
    """No load report (a two-tower CLIP checkpoint lists every vision key as unused) and no progress
    bars from transformers while a text encoder loads."""
    logging = transformers.utils.logging
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    bars = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def _dtype_argument(transformers: Any) -> str:
    """``dtype`` since transformers 4.56, ``torch_dtype`` before."""
    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


class TransformersCLIP(TextEncoder):
    """CLIP text model and tokenizer through transformers (``CLIPTextModelWithProjection``)."""

    description = "A Hugging Face CLIP text model from a folder or the Hub cache, via transformers (the 'text' extra)."
    stores_weights = False  # a bundle names the source; the weights stay in the Hub cache or folder

    def __init__(
        self,
        source: str,
        revision: str | None = None,
        subfolder: str | None = None,
        projection_dim: int | None = None,
        context_length: int = 77,
    ) -> None:
        transformers = _transformers()
        where = {"revision": revision, "local_files_only": True}  # never download at load time
        model_kw: dict[str, Any] = {**where, _dtype_argument(transformers): torch.float32}
        if subfolder:
            model_kw["subfolder"] = subfolder
        if projection_dim is not None:
            model_kw["projection_dim"] = projection_dim
        try:
            with _quiet(transformers):
                model = transformers.CLIPTextModelWithProjection.from_pretrained(source, **model_kw)
                tokenizer = self._load_tokenizer(transformers, source, subfolder, where)
        except OSError as err:
            local = Path(source).expanduser().is_dir()
            hint = ("" if local else
                    f"; it must be a local folder or already be in the Hugging Face cache (e.g. `hf download {source}`)")
            raise NotFoundError(f"cannot load the CLIP text encoder '{source}'{hint} ({err})") from None
        positions = model.config.max_position_embeddings
        if context_length > positions:
            raise UsageError(f"context_length {context_length} exceeds the {positions} positions of '{source}'")
        super().__init__(context_length=context_length, context_dim=model.config.hidden_size,
                         pooled_dim=model.config.projection_dim)
        tokenizer.pad_token_id = 0  # as the official code: "align with cc3m muse ckpt pretraining"
        self.model = model.eval()
        self.hf_tokenizer = tokenizer

    @staticmethod
    def _load_tokenizer(transformers: Any, source: str, subfolder: str | None, where: dict[str, Any]) -> Any:
        """The tokenizer next to the model (in ``subfolder``), else at the top of ``source``."""
        if subfolder:
            try:
                return transformers.CLIPTokenizer.from_pretrained(source, subfolder=subfolder, **where)
            except OSError:
                pass
        return transformers.CLIPTokenizer.from_pretrained(source, **where)

    def tokenize(self, prompts: Sequence[str]) -> torch.Tensor:
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        batch = self.hf_tokenizer(prompts, max_length=self.context_length, padding="max_length", truncation=True,
                                  return_tensors="pt")
        return batch["input_ids"].long()

    def forward(self, ids: torch.Tensor) -> TextEmbedding:
        out = self.model(input_ids=ids)
        return TextEmbedding(context=out.last_hidden_state, pooled=out.text_embeds)

    @classmethod
    def from_bundle(cls, bundle_path: Path, config: dict[str, Any], device: torch.device | str = "cpu",
                    files: Mapping[str, Any] | None = None) -> TextEncoder:
        """Weights come from ``source`` (a folder or the Hugging Face cache), not from the bundle."""
        try:
            encoder = cls(**config)
        except TypeError as err:
            raise BundleError(f"{bundle_path}: config.json has bad text encoder settings ({err})") from None
        return encoder.to(device).eval()
