"""A new backbone is one class and one entry-point line.

The class below is installed the way a third-party distribution would be (a ``*.dist-info`` folder
with ``entry_points.txt`` on ``sys.path``), with no other registration anywhere, and then gets:
sampling through the CLI, a FLOP count, bundle save/load, and ``adanat import --format <name>``.
"""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from adanat_cli.engine.sampling import generate_images
from adanat_cli.models.bundle import load_bundle, save_bundle
from adanat_cli.models.converters.vqgan import vqgan_jax_from_official
from adanat_cli.models.formats import format_names, infer_vqgan_jax_config
from adanat_cli.registry import registry
from adanat_cli.schedulers.build import build_scheduler

from .test_import import golden

PLUGIN = textwrap.dedent('''
    import torch
    from torch import nn

    from adanat_cli.architectures.base import Backbone, BackboneOutput, linear_flops


    class TinyNAT(Backbone):
        """Token + position + class embeddings, one mixing layer, a linear head."""

        def __init__(self, codebook_size: int = 64, side: int = 4, num_classes: int = 5, dim: int = 16):
            super().__init__(codebook_size=codebook_size, grid=(side, side), num_classes=num_classes, feature_dim=dim)
            self.tok = nn.Embedding(codebook_size + 1, dim)
            self.pos = nn.Parameter(torch.randn(side * side, dim))
            self.cls = nn.Embedding(num_classes + 1, dim)
            self.mix = nn.Linear(dim, dim)
            self.head = nn.Linear(dim, codebook_size)

        def forward(self, tokens, labels, cache=None):
            x = self.tok(tokens) + self.pos + self.cls(labels)[:, None]  # (B, N, D)
            x = x + torch.tanh(self.mix(x))
            return BackboneOutput(logits=self.head(x), features=x)

        def forward_flops(self, mask, prev_mask=None):
            n = mask.shape[1]
            per_row = linear_flops(self.mix, n) + linear_flops(self.head, n)
            return torch.full((mask.shape[0],), per_row, dtype=torch.int64)

        @classmethod
        def infer_config(cls, state_dict, num_heads=None):
            vocab, dim = state_dict["tok.weight"].shape
            side = int(state_dict["pos"].shape[0] ** 0.5)
            return {"codebook_size": vocab - 1, "side": side, "num_classes": state_dict["cls.weight"].shape[0] - 1,
                    "dim": dim}
''')


@pytest.fixture
def installed_plugin(tmp_path):
    """Install ``tinynat`` as a distribution would: its module and its dist-info on sys.path."""
    site = tmp_path / "site"
    (site / "tinynat_plugin").mkdir(parents=True)
    (site / "tinynat_plugin" / "__init__.py").write_text(PLUGIN)
    info = site / "tinynat_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinynat-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[adanat.backbones]\ntinynat = tinynat_plugin:TinyNAT\n")
    sys.path.insert(0, str(site))
    registry.refresh()
    yield registry.get("backbones", "tinynat")
    sys.path.remove(str(site))
    sys.modules.pop("tinynat_plugin", None)
    registry.refresh()


@pytest.fixture
def tokenizer_files(tmp_path):
    _, vq, _, _ = golden("vqgan_small")
    path = tmp_path / "vqgan.ckpt"
    torch.save({"state_dict": vq}, path)
    ddconfig, n_embed = infer_vqgan_jax_config(vq)
    return path, vqgan_jax_from_official(vq, ddconfig, n_embed)


def test_one_class_and_one_entry_point_give_sampling_flops_bundles_and_import(
    installed_plugin, tokenizer_files, tmp_path, cli
):
    TinyNAT = installed_plugin
    tokenizer_file, tokenizer = tokenizer_files
    torch.manual_seed(0)
    backbone = TinyNAT(num_classes=5).eval()
    assert backbone.config == {"codebook_size": 64, "side": 4, "num_classes": 5, "dim": 16}
    assert (backbone.mask_id, backbone.null_class, backbone.num_tokens) == (64, 5, 16)

    # bundle save/load: the config is recorded without a line of code in the class
    bundle_dir = save_bundle(tmp_path / "tiny", "tiny", backbone, tokenizer, [str(c) for c in range(5)],
                             recommended={"scheduler": "cosine", "steps": 4})
    bundle = load_bundle(bundle_dir)
    assert bundle.config["backbone"] == {"type": "tinynat", "config": backbone.config}
    tokens, labels = torch.randint(0, 64, (2, 16)), torch.tensor([1, 3])
    with torch.inference_mode():
        assert torch.equal(bundle.backbone(tokens, labels).logits, backbone(tokens, labels).logits)

    # sampling, through the CLI
    out = tmp_path / "samples"
    result = cli("sample", "--model", str(bundle_dir), "-s", "cosine", "-T", "4", "-c", "1,4", "-n", "2", "-o", str(out))
    assert result.code == 0, result.err
    assert len(list(out.glob("*_class*.png"))) == 4

    # FLOPs: the engine counts each forward with the class's own method (cond + uncond at w = 1)
    scheduler = build_scheduler("cosine", {"guidance": 1.0})
    samples = generate_images(bundle, scheduler, [0, 1], steps=4, count_flops=True)
    per_forward = int(backbone.forward_flops(torch.ones(1, 16, dtype=torch.bool))[0])
    assert samples.flops.tolist() == [4 * 2 * per_forward] * 2

    # import: a state dict in the class's own key names, config inferred by the class
    assert "tinynat" in format_names()
    nnet = tmp_path / "nnet.pt"
    torch.save(backbone.state_dict(), nnet)
    imported = tmp_path / "imported"
    result = cli("import", "--format", "tinynat", "--nnet", str(nnet), "--tokenizer", str(tokenizer_file),
                 "--name", "tiny-imported", "--out", str(imported), "--heads", "1")
    assert result.code == 0, result.err
    again = load_bundle(imported)
    assert again.backbone.config == backbone.config
    for key, tensor in backbone.state_dict().items():
        assert torch.equal(again.backbone.state_dict()[key], tensor), key


def test_an_unknown_format_names_the_formats_and_the_backbones_that_can_be_imported(cli, tmp_path):
    result = cli("import", "--format", "nope", "--nnet", str(tmp_path / "a"), "--tokenizer", str(tmp_path / "b"),
                 "--name", "x", "--out", str(tmp_path / "o"))
    assert result.code == 2 and "unknown format 'nope'" in result.err and "autonat" in result.err
