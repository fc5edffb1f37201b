"""Text encoders: the CLIP BPE tokenizer against open_clip's and transformers', adanat's CLIP text
transformer against transformers' on the same weights, the transformers wrapper, the prompt cache, the
plugin group and the errors for a missing dependency. Everything is tiny and offline."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from adanat_cli.architectures.clip_text import CLIPText
from adanat_cli.errors import BundleError, NotFoundError, UsageError, report
from adanat_cli.registry import registry
from adanat_cli.text import clip_bpe
from adanat_cli.text.base import TEXT_ENCODER_FILE, TextEmbedding, TextEncoder
from adanat_cli.text.prompt_cache import PromptEmbedder

transformers = pytest.importorskip("transformers")

PROMPTS = [
    "a photo of a cat",
    "Hello, World!!! It's 2024; the price is $3.50 (or 4,99€).",
    "  multiple   spaces\tand\nnewlines ",
    "Café crème brûlée — naïve façade",
    "日本語のテキスト 中文 한국어",
    "emoji 🐱🚀 test",
    "don't can't I'M we'll they'd YOU'VE",
    "",
    "1234567890 3.14159",
    "a very long caption " + " ".join(f"word{i} and-more" for i in range(60)),
]
# cleaned by CLIP's ftfy + HTML unescaping (open_clip), which transformers' fast tokenizer does not do
OPEN_CLIP_ONLY = ["&amp; &lt;b&gt;bold&lt;/b&gt;", "ligature ﬁsh"]


@pytest.fixture(scope="module")
def bpe() -> clip_bpe.CLIPBPE:
    return clip_bpe.default_bpe()


@pytest.fixture(scope="module")
def tokenizer_files(bpe, tmp_path_factory) -> Path:
    """vocab.json and merges.txt, as Hugging Face CLIP repos ship them, written from open_clip's file."""
    folder = tmp_path_factory.mktemp("clip-tokenizer")
    (folder / "vocab.json").write_text(json.dumps(bpe.vocab), encoding="utf-8")
    merges = "\n".join(" ".join(pair) for pair in bpe.merges)
    (folder / "merges.txt").write_text(f"#version: 0.2\n{merges}\n", encoding="utf-8")
    return folder


def _open_clip_simple_tokenizer():
    """open_clip's SimpleTokenizer, its module loaded from the file alone (the package import is slow)."""
    folder = Path(next(iter(importlib.util.find_spec("open_clip").submodule_search_locations)))
    spec = importlib.util.spec_from_file_location("_open_clip_tokenizer", folder / "tokenizer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SimpleTokenizer()


def test_vocabulary_layout(bpe):
    assert len(bpe.vocab) == 49408
    assert bpe.vocab["!"] == 0 and bpe.vocab["!</w>"] == 256
    assert bpe.vocab["<|startoftext|>"] == 49406 and bpe.vocab["<|endoftext|>"] == 49407
    assert len(bpe.merges) == 48894


def test_ids_equal_open_clips_simple_tokenizer(bpe):
    reference = _open_clip_simple_tokenizer()
    prompts = PROMPTS + OPEN_CLIP_ONLY
    for length in (77, 16):
        ours = bpe.encode(prompts, length)
        assert ours.dtype == torch.long and ours.shape == (len(prompts), length)
        assert torch.equal(ours, reference(prompts, context_length=length))
    long = bpe.encode([PROMPTS[-1]], 77)[0]
    assert long[0] == 49406 and long[-1] == 49407 and (long != 0).all()  # truncated: the end token is last
    assert bpe.encode([""], 5).tolist() == [[49406, 49407, 0, 0, 0]]
    assert bpe.decode(bpe.encode(["A Photo of a CAT!"])[0]) == "a photo of a cat !"


def test_ids_equal_transformers_clip_tokenizer_with_pad_zero(bpe, tokenizer_files):
    tokenizer = transformers.CLIPTokenizer.from_pretrained(str(tokenizer_files))
    tokenizer.pad_token_id = 0  # as the official MUSE/AdaNAT code
    prompts = PROMPTS + ["<|endoftext|> inside a prompt"]
    reference = tokenizer(prompts, max_length=77, padding="max_length", truncation=True, return_tensors="pt")
    assert torch.equal(clip_bpe.encode(prompts, 77), reference["input_ids"])


def _hf_config(activation: str, **extra):
    return transformers.CLIPTextConfig(
        vocab_size=49408, hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=77, projection_dim=16, hidden_act=activation, layer_norm_eps=1e-5,
        bos_token_id=49406, eos_token_id=49407, **extra)


def _tiny_clip(activation: str = "quick_gelu", seed: int = 0) -> CLIPText:
    torch.manual_seed(seed)
    model = CLIPText(width=32, layers=2, heads=2, context_length=77, projection_dim=16, activation=activation)
    with torch.no_grad():  # non-trivial norms and biases, so that a misplaced one shows
        for name, param in model.named_parameters():
            if "layer_norm" in name or name.endswith("bias"):
                param.add_(0.1 * torch.randn_like(param))
    return model.eval()


@pytest.mark.parametrize("activation", ["quick_gelu", "gelu"])
def test_clip_text_matches_transformers_on_the_same_weights(activation):
    ours = _tiny_clip(activation)
    reference = transformers.CLIPTextModelWithProjection(_hf_config(activation)).eval()
    theirs_keys = set(reference.state_dict())
    assert set(ours.state_dict()) == theirs_keys - {"text_model.embeddings.position_ids"}
    reference.load_state_dict(ours.state_dict(), strict=not any("position_ids" in k for k in theirs_keys))
    ids = clip_bpe.encode(PROMPTS[:4] + PROMPTS[-1:], ours.context_length)
    with torch.no_grad():
        expected = reference(input_ids=ids)
    out = ours.encode(PROMPTS[:4] + PROMPTS[-1:])
    assert out.context.shape == (5, 77, 32) and out.pooled.shape == (5, 16)
    assert out.context.dtype == torch.float32 and out.pooled.dtype == torch.float32
    torch.testing.assert_close(out.context, expected.last_hidden_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.pooled, expected.text_embeds, atol=1e-5, rtol=0)


def test_clip_text_state_dict_keys():
    keys = set(_tiny_clip().state_dict())
    layer = "text_model.encoder.layers.1."
    assert {"text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
            "text_model.final_layer_norm.weight", "text_model.final_layer_norm.bias",
            "text_projection.weight"} <= keys
    assert {f"{layer}self_attn.{p}_proj.{w}" for p in "qkv" for w in ("weight", "bias")} <= keys
    assert {f"{layer}{m}.{w}" for m in ("self_attn.out_proj", "layer_norm1", "layer_norm2", "mlp.fc1", "mlp.fc2")
            for w in ("weight", "bias")} <= keys
    assert "text_projection.bias" not in keys and not any("position_ids" in k for k in keys)
    assert len(keys) == 2 + 2 * 16 + 2 + 1


def test_clip_text_from_bundle_assigns_strictly(tmp_path):
    model = _tiny_clip()
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    save_file(model.state_dict(), str(bundle / TEXT_ENCODER_FILE))
    loaded = CLIPText.from_bundle(bundle, model.config, "cpu")
    assert not loaded.training and loaded.config == model.config
    torch.testing.assert_close(loaded.encode(["a red bus"]).pooled, model.encode(["a red bus"]).pooled)
    size = (bundle / TEXT_ENCODER_FILE).stat().st_size
    with pytest.raises(BundleError, match="truncated or corrupt"):
        CLIPText.from_bundle(bundle, model.config, "cpu", files={TEXT_ENCODER_FILE: {"bytes": size + 1}})
    save_file({k: v for k, v in model.state_dict().items() if "final_layer_norm.bias" not in k},
              str(bundle / TEXT_ENCODER_FILE))
    with pytest.raises(BundleError, match="lacks tensor 'text_model.final_layer_norm.bias'"):
        CLIPText.from_bundle(bundle, model.config, "cpu")
    with pytest.raises(BundleError, match="bad text encoder settings"):
        CLIPText.from_bundle(bundle, {**model.config, "depth": 3}, "cpu")


@pytest.fixture(scope="module")
def hf_folder(tokenizer_files, tmp_path_factory) -> Path:
    """A tiny random CLIP text model saved like a Hub repo, with the tokenizer files next to it."""
    folder = tmp_path_factory.mktemp("tiny-clip")
    torch.manual_seed(1)
    transformers.CLIPTextModelWithProjection(_hf_config("gelu")).save_pretrained(str(folder))
    for name in ("vocab.json", "merges.txt"):
        (folder / name).write_bytes((tokenizer_files / name).read_bytes())
    return folder


def test_transformers_clip_from_a_local_folder(hf_folder):
    from adanat_cli.text.transformers_clip import TransformersCLIP

    encoder = TransformersCLIP(str(hf_folder))
    assert (encoder.context_length, encoder.context_dim, encoder.pooled_dim) == (77, 32, 16)
    assert encoder.config == {"source": str(hf_folder), "revision": None, "subfolder": None,
                              "projection_dim": None, "context_length": 77}
    ids = encoder.tokenize(["a cat", ""])
    assert torch.equal(ids, clip_bpe.encode(["a cat", ""], 77))  # padded with 0, not the end token
    out = encoder.encode(["a cat", "", "a dog"])
    assert out.context.shape == (3, 77, 32) and out.pooled.shape == (3, 16)
    assert out.context.dtype == torch.float32 and not out.context.requires_grad
    again = TransformersCLIP.from_bundle(Path("/nonexistent-bundle"), encoder.config, "cpu")
    torch.testing.assert_close(again.encode(["a cat"]).pooled, out.pooled[:1])
    # the same weights in adanat's own module give the same embeddings
    ours = CLIPText(width=32, layers=2, heads=2, projection_dim=16, activation="gelu")
    ours.load_state_dict(encoder.model.state_dict(), strict=True)
    torch.testing.assert_close(ours.encode(["a cat", "", "a dog"]).context, out.context, atol=1e-5, rtol=0)


def test_transformers_clip_never_downloads(tmp_path, monkeypatch):
    from adanat_cli.text.transformers_clip import TransformersCLIP

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(NotFoundError, match="Hugging Face cache"):
        TransformersCLIP("someone/not-a-cached-clip")


def test_missing_transformers_is_one_clear_error(monkeypatch):
    from adanat_cli.text.transformers_clip import TransformersCLIP

    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(UsageError, match=r"pip install 'adanat\[text\]'"):
        TransformersCLIP("anything")


class CountingEncoder(TextEncoder):
    """Embeds a prompt as its length and first character code; records every batch it encodes."""

    def __init__(self) -> None:
        super().__init__(context_length=3, context_dim=2, pooled_dim=1)
        self.anchor = torch.nn.Parameter(torch.zeros(()))
        self.batches: list[list[str]] = []

    def tokenize(self, prompts):
        self.batches.append(list(prompts))
        return torch.tensor([[len(p), ord(p[0]) if p else 0, 0] for p in prompts])

    def forward(self, ids):
        context = torch.stack([ids, -ids], dim=-1).double()
        return TextEmbedding(context=context, pooled=ids[:, :1].double())


def test_prompt_embedder_encodes_each_prompt_once():
    encoder = CountingEncoder()
    cache = PromptEmbedder(encoder, max_entries=3)
    out = cache.embed(["cat", "dog", "cat", "emu"])
    # each new prompt once, on its own (its embedding must not depend on its batch)
    assert cache.encoded == 3 and encoder.batches == [["cat"], ["dog"], ["emu"]]
    assert out.context.shape == (4, 3, 2) and out.pooled.dtype == torch.float32
    assert out.pooled[:, 0].tolist() == [3, 3, 3, 3] and out.context[:, 1, 0].tolist() == [99, 100, 99, 101]
    again = cache.embed(["emu", "cat"])
    assert cache.encoded == 3 and torch.equal(again.context, out.context[[3, 0]])
    cache.embed(["gnu", "dog"])  # "dog" is a hit; "gnu" evicts the least recently used one, "emu"
    assert cache.encoded == 4 and len(cache) == 3
    cache.embed(["emu"])
    assert cache.encoded == 5
    null = cache.null()
    assert null.context.shape == (1, 3, 2) and null.pooled.tolist() == [[0.0]] and cache.encoded == 6
    cache.null()
    cache.embed([""])
    assert cache.encoded == 6
    assert cache.embed([]).context.shape == (0, 3, 2)


def test_prompt_embedder_pooled_is_embeds_pooled_on_the_cpu_through_the_same_cache():
    cache = PromptEmbedder(CountingEncoder())
    pooled = cache.pooled(["cat", "dog", "cat"])
    assert pooled.dtype == torch.float32 and pooled.device.type == "cpu"
    assert torch.equal(pooled, cache.embed(["cat", "dog", "cat"]).pooled.cpu())
    assert cache.encoded == 2  # embed found both in the cache
    assert cache.pooled([]).shape == (0, 1)


def test_prompt_embedder_with_clip_text_matches_direct_encoding():
    model = _tiny_clip()
    cache = PromptEmbedder(model)
    prompts = ["a red bus", "a cat", "a red bus"]
    torch.testing.assert_close(cache.embed(prompts).context, model.encode(prompts).context)
    torch.testing.assert_close(cache.null().pooled, model.encode([""]).pooled)
    assert cache.encoded == 3


def test_both_text_encoders_are_registered_plugins(cli):
    assert {"clip", "transformers-clip"} <= set(registry.names("text_encoders"))
    assert registry.get("text_encoders", "clip") is CLIPText
    assert registry.get("text_encoders", "transformers-clip").__name__ == "TransformersCLIP"
    result = cli("plugins", "--json", "--group", "text_encoders")
    assert result.code == 0
    found = {p["name"]: p for p in result.json()["plugins"]}
    assert found["clip"]["group"] == "adanat.text_encoders" and found["clip"]["distribution"] == "adanat"


def test_missing_open_clip_is_one_clear_error(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "open_clip" else real(name, *a))
    clip_bpe.default_bpe.cache_clear()
    try:
        with pytest.raises(UsageError) as caught:
            _tiny_clip().tokenize(["a cat"])
    finally:
        clip_bpe.default_bpe.cache_clear()
    assert str(caught.value) == "the CLIP vocabulary ships with open_clip_torch: pip install open_clip_torch"
    assert report(caught.value) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"Error: {caught.value}"]
