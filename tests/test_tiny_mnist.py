"""The embedded default model ``tiny-mnist``: loads by name, samples recognisable digits, rebuilds."""

from __future__ import annotations

import json

import pytest
import torch

from adanat_cli.architectures.uvit import UViT
from adanat_cli.architectures.vqgan import VQGANJax
from adanat_cli.builds import tiny_mnist
from adanat_cli.engine.sampling import generate_images
from adanat_cli.metrics import load_classifier, load_fid_stats
from adanat_cli.models.bundle import load_bundle
from adanat_cli.models.resolve import load_model
from adanat_cli.schedulers.build import build_scheduler
from adanat_cli.settings import default_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bundle():
    return load_model("tiny-mnist")


def test_default_model_is_tiny_mnist(monkeypatch, tmp_path):
    monkeypatch.delenv("ADANAT_MODEL", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_model() == "tiny-mnist"


def test_bundle_loads_by_name_with_expected_shapes(bundle):
    assert isinstance(bundle.backbone, UViT) and isinstance(bundle.tokenizer, VQGANJax)
    assert bundle.classes == [str(d) for d in range(10)]
    assert bundle.image_size == (28, 28)
    assert bundle.backbone.grid == (7, 7)
    assert bundle.tokenizer.codebook_size == bundle.backbone.codebook_size
    assert bundle.recommended["scheduler"] == "cosine" and bundle.recommended["steps"] == 8
    tokens = torch.zeros(2, 49, dtype=torch.long)
    with torch.inference_mode():
        out = bundle.backbone(tokens, torch.tensor([3, 10]))
        images = bundle.tokenizer.decode(tokens.view(2, 7, 7))
    assert out.logits.shape == (2, 49, bundle.backbone.codebook_size) and out.logits.dtype == torch.float32
    assert images.shape == (2, 3, 28, 28) and images.dtype == torch.float32


def test_bundled_classifier_and_fid_stats(bundle):
    classifier = load_classifier(bundle.path)
    mu, sigma = load_fid_stats(bundle.path)
    d = classifier.config["feature_dim"]
    assert mu.shape == (d,) and sigma.shape == (d, d)
    assert mu.dtype == torch.float64 and sigma.dtype == torch.float64
    assert torch.allclose(sigma, sigma.T)


def test_weights_are_small(bundle):
    total = sum(f.stat().st_size for f in bundle.path.glob("*.safetensors"))
    assert total <= 20 * 2**20


@pytest.mark.parametrize("model,digit", [("tiny-mnist", 1), ("tiny-mnist", 4), ("tiny-mnist", 7),
                                         ("tiny-mnist-enat", 2), ("tiny-mnist-enat", 5), ("tiny-mnist-enat", 8)])
def test_samples_are_classified_as_the_requested_digit(model, digit):
    """Both built-in models (U-ViT and ENAT backbones) draw the digit asked for."""
    bundle = load_model(model)
    classifier = load_classifier(bundle.path)
    scheduler = build_scheduler("cosine", recommended=bundle.recommended)
    samples = generate_images(bundle, scheduler, [digit] * 20, steps=8, seed=0, batch_size=20)
    with torch.inference_mode():
        predicted = classifier(samples.images).argmax(dim=1)
    assert (predicted == digit).float().mean().item() >= 0.8


def test_quick_build_end_to_end(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert tiny_mnist.main(["--out", str(out), "--quick"]) == 0
    built = load_bundle(out)
    assert built.backbone.num_classes == 10 and built.backbone.grid == (7, 7)
    config = json.loads((out / "config.json").read_text())
    assert config["classifier"]["type"] == "digit-cnn"
    assert config["fid_stats"] == "fid_stats.safetensors"
    assert {"classifier.safetensors", "fid_stats.safetensors"} <= set(config["files"])
    assert set(config["provenance"]["stage_seconds"]) >= {"tokenizer", "classifier", "backbone", "tune"}
    assert load_classifier(out) is not None
    assert load_fid_stats(out)[1].dtype == torch.float64
    # an existing bundle is never replaced without --overwrite
    assert tiny_mnist.main(["--out", str(out), "--quick"]) == 6


def test_shipped_schedules_and_policies_match_their_steps(bundle):
    """Every schedule and policy the bundle ships is registered under the T it was made for."""
    from adanat_cli.schedulers.adanat_files import load_policy
    from adanat_cli.schedulers.autonat import Schedule

    shipped = bundle.config.get("schedules", {})
    assert "4" in shipped.get("autonat", {}) and {"4", "8"} <= set(shipped.get("adanat", {}))
    for steps in shipped["autonat"]:
        assert Schedule.load(bundle.scheduler_defaults("autonat", int(steps))["file"]).steps == int(steps)
    for steps in shipped["adanat"]:
        _, meta = load_policy(bundle.scheduler_defaults("adanat", int(steps))["policy"])
        assert meta["steps"] == int(steps)
