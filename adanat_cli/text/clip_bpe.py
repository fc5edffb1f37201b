"""OpenAI CLIP's byte-level BPE tokenizer, built from the merges file that ships with open_clip_torch.

The vocabulary (49,408 entries) is derived from ``open_clip/bpe_simple_vocab_16e6.txt.gz`` alone: the 256
byte symbols, the same symbols with the end-of-word mark ``</w>``, one entry per merge (the first 48,894
merge lines), then ``<|startoftext|>`` (49406) and ``<|endoftext|>`` (49407). The file is located with
``importlib.util.find_spec``, so open_clip itself is never imported (its import takes seconds).

A prompt is cleaned like CLIP does it (ftfy's fix when installed, HTML entities unescaped, runs of
whitespace collapsed, lower case), split by CLIP's pre-tokenisation pattern, each piece's UTF-8 bytes
mapped to printable symbols and merged by rank. ``encode`` lays a batch out as the official MUSE code
does with ``transformers.CLIPTokenizer(max_length=L, padding="max_length", truncation=True)`` and
``pad_token_id = 0``: start token, tokens, end token, zeros; a long prompt is cut so that the end token
is the last one kept.
"""

from __future__ import annotations

import functools
import gzip
import html
import importlib.util
from collections.abc import Iterable
from pathlib import Path

import regex
import torch

from ..errors import UsageError

VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
NUM_MERGES = 49152 - 256 - 2  # 48,894: what fills the vocabulary up to 49,408 with the two special tokens
SOT = "<|startoftext|>"
EOT = "<|endoftext|>"
SOT_ID = 49406
EOT_ID = 49407
PAD_ID = 0
VOCAB_SIZE = 49408
MISSING = "the CLIP vocabulary ships with open_clip_torch: pip install open_clip_torch"

# CLIP's pre-tokenisation: special tokens, English contractions, letter runs, single digits, other symbols
PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
_WHITESPACE = regex.compile(r"\s+")


class VocabularyMissing(UsageError):
    """open_clip_torch, which carries the CLIP merges file, is not installed."""


def vocab_path() -> Path:
    """The merges file inside the installed open_clip package (found without importing it)."""
    try:
        spec = importlib.util.find_spec("open_clip")
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(folder) / VOCAB_FILE
        if candidate.is_file():
            return candidate
    raise VocabularyMissing(MISSING)


def byte_symbols() -> dict[int, str]:
    """Each byte value -> one printable character, as GPT-2/CLIP byte-level BPE spell bytes.

    Bytes that are already visible Latin-1 characters stand for themselves; the others (control
    characters, space, a few more) take the code points 256, 257, ... in byte order. The dict's order
    (visible bytes first) is the order of the first 256 vocabulary entries.
    """
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols = {b: chr(b) for b in visible}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return symbols


@functools.cache
def _ftfy_fix():
    """``ftfy.fix_text`` when ftfy is installed (CLIP applies it; HF's fast tokenizer does not), else None."""
    try:
        import ftfy  # optional third-party dependency, imported on first use
    except ImportError:
        return None
    return ftfy.fix_text


def clean(text: str) -> str:
    """CLIP's prompt cleaning: mojibake fixed (ftfy, if installed), entities unescaped, spaces collapsed,
    lower case."""
    fix = _ftfy_fix()
    if fix is not None:
        text = fix(text)
    text = html.unescape(html.unescape(text)).strip()
    return _WHITESPACE.sub(" ", text).strip().lower()


class CLIPBPE:
    """The CLIP tokenizer. ``tokens(text)`` -> ids without special tokens; ``encode(prompts, length)``
    -> (B, length) long."""

    def __init__(self, path: str | Path | None = None, cache_size: int = 65536) -> None:
        path = Path(path) if path is not None else vocab_path()
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            lines = handle.read().split("\n")
        merges = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]
        if len(merges) != NUM_MERGES or any(len(m) != 2 for m in merges):
            raise UsageError(f"{path} is not CLIP's BPE merges file (expected {NUM_MERGES} merge lines)")
        self.byte_symbols = byte_symbols()
        symbols = list(self.byte_symbols.values())
        entries = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in merges), SOT, EOT]
        self.merges: list[tuple[str, str]] = merges
        self.vocab: dict[str, int] = {token: i for i, token in enumerate(entries)}
        self.ranks: dict[tuple[str, str], int] = {pair: i for i, pair in enumerate(merges)}
        self.special = {SOT: SOT_ID, EOT: EOT_ID}
        assert len(self.vocab) == VOCAB_SIZE and self.vocab[SOT] == SOT_ID and self.vocab[EOT] == EOT_ID
        self._bpe = functools.lru_cache(maxsize=cache_size)(self._merge_word)

    def _merge_word(self, word: str) -> tuple[str, ...]:
        """One pre-token (already spelt in byte symbols) -> its BPE pieces; the last carries ``</w>``."""
        parts = [*word[:-1], word[-1] + "</w>"]
        ranks = self.ranks
        while len(parts) > 1:
            best = min(range(len(parts) - 1), key=lambda i: ranks.get((parts[i], parts[i + 1]), NUM_MERGES))
            pair = (parts[best], parts[best + 1])
            if pair not in ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(parts):  # merge every occurrence of the pair, left to right
                if i + 1 < len(parts) and parts[i] == pair[0] and parts[i + 1] == pair[1]:
                    merged.append(pair[0] + pair[1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return tuple(parts)

    def tokens(self, text: str) -> list[int]:
        """Token ids of one prompt, cleaned, without the start and end tokens."""
        ids: list[int] = []
        for piece in PATTERN.findall(clean(text)):
            if piece in self.special:
                ids.append(self.special[piece])
                continue
            spelt = "".join(self.byte_symbols[b] for b in piece.encode("utf-8"))
            ids.extend(self.vocab[p] for p in self._bpe(spelt))
        return ids

    def encode(self, prompts: str | Iterable[str], length: int = 77) -> torch.Tensor:
        """(B, length) long: start token, tokens, end token, then ``PAD_ID`` (0). A prompt too long keeps
        its first ``length - 2`` tokens, so the end token is always present and last."""
        if length < 2:
            raise UsageError(f"a CLIP context of {length} tokens cannot hold the start and end tokens")
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        out = torch.full((len(prompts), length), PAD_ID, dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids = [SOT_ID, *self.tokens(prompt)[: length - 2], EOT_ID]
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids back to (cleaned) text: the start token is skipped and the end token ends it."""
        if not hasattr(self, "_inverse"):
            self._inverse = {i: t for t, i in self.vocab.items()}
            self._bytes = {s: b for b, s in self.byte_symbols.items()}
        data = bytearray()
        for i in ids:
            i = int(i)
            if i == EOT_ID:
                break
            if i == SOT_ID:
                continue
            token = self._inverse[i]
            word_end = token.endswith("</w>")
            data.extend(self._bytes[c] for c in (token[:-4] if word_end else token))
            if word_end:
                data.extend(b" ")
        return data.decode("utf-8", errors="replace").strip()


@functools.lru_cache(maxsize=1)
def default_bpe() -> CLIPBPE:
    """The tokenizer read from open_clip's merges file, loaded once per process."""
    return CLIPBPE()


def encode(prompts: str | Iterable[str], length: int = 77) -> torch.Tensor:
    """``prompts`` -> (B, length) long CLIP token ids (see ``CLIPBPE.encode``)."""
    return default_bpe().encode(prompts, length)
