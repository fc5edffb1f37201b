"""The held-out tiny-mnist feature space: shipped, different from the training space, never read by
policy training or checkpoint selection, reported beside the main space by `compare`."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from adanat_cli.builds.heldout_extractor import halves
from adanat_cli.data.captions import parse_caption
from adanat_cli.data.sources import mnist5k
from adanat_cli.evaluation.captions import bundle_caption_file, class_agreement
from adanat_cli.evaluation.pairs import comparison_labels
from adanat_cli.metrics import heldout
from adanat_cli.metrics.digit_classifier import load_classifier
from adanat_cli.models.resolve import builtin_models, load_model
from adanat_cli.plots import plot_tradeoff
from adanat_cli.text.prompt_files import read_prompt_file

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("model", ["tiny-mnist", "tiny-mnist-enat"])
def test_both_builtin_bundles_ship_the_same_heldout_network(model):
    network = heldout.load_heldout(builtin_models()[model])
    reference = heldout.load_heldout(builtin_models()["tiny-mnist"])
    assert network is not None
    assert all(torch.equal(a, b) for a, b in zip(network.state_dict().values(), reference.state_dict().values()))


def test_it_differs_from_the_training_space_and_classifies_the_half_it_never_saw():
    path = builtin_models()["tiny-mnist"]
    network, classifier = heldout.load_heldout(path), load_classifier(path)
    assert not set(network.state_dict()) & set(classifier.state_dict())  # another architecture
    spec = json.loads((path / "config.json").read_text())["heldout_extractor"]
    assert "second half" in spec["trained_on"]
    images, labels = mnist5k()
    first, _ = halves(labels)
    with torch.no_grad():
        accuracy = (network(images[first]).argmax(-1) == labels[first]).float().mean().item()
        real = network.features(images)
    assert accuracy == pytest.approx(spec["accuracy_on_first_half"], abs=1e-3) and accuracy > 0.95
    assert real.std(dim=0).mean().item() == pytest.approx(1.0, abs=1e-3)  # the recorded feature scale


@pytest.mark.parametrize("reward_args", [[], ["--reward-arg", "class_weight=0.1"]])
def test_policy_training_and_its_checkpoint_selection_never_load_it(cli, tmp_path, monkeypatch, reward_args):
    def refuse(*args, **kwargs):
        raise AssertionError("the held-out network was loaded")

    monkeypatch.setattr(heldout, "load_heldout", refuse)
    monkeypatch.setattr(heldout.HeldoutExtractor, "__init__", refuse)
    run = tmp_path / "run"
    result = cli("train-policy", "--steps", "2", "--updates", "2", "--trajectories", "4", "--batch-size", "4",
                 "--eval-every", "1", "--eval-num", "4", "--device", "cpu", "--out", str(run), *reward_args)
    assert result.code == 0, result.err
    assert (run / "best.safetensors").is_file()  # a checkpoint was selected, in the training space


def test_compare_reports_both_spaces(cli, tmp_path):
    out = tmp_path / "cmp"
    result = cli("compare", "-s", "cosine", "-T", "2", "-n", "8", "-b", "8", "--device", "cpu",
                 "-x", "tiny-mnist,tiny-mnist-heldout", "-o", str(out), "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["extractor"] == "tiny-mnist" and report["other_extractors"] == ["tiny-mnist-heldout"]
    space = report["results"][0]["spaces"]["tiny-mnist-heldout"]
    assert space["fid"] > 0 and 0 <= space["precision"] <= 1
    assert space["fid"] != report["results"][0]["fid"]
    # the held-out network also judges the classes, beside the training classifier
    assert 0 <= space["class_accuracy"] <= 1 and space["class_accuracy"] * 8 == round(space["class_accuracy"] * 8)
    assert "FID (tiny-mnist-heldout)" in (out / "report.md").read_text()
    assert "class acc. (tiny-mnist-heldout)" in (out / "report.md").read_text()
    assert (out / "tradeoff_T2_tiny-mnist-heldout.png").is_file()


def test_on_a_text_model_the_heldout_network_judges_class_agreement(cli, tmp_path, monkeypatch):
    """As for class labels, each space judges the classes by its own network; the held-out network is
    replaced here by one that always answers "zero", so its agreement must be the share of the
    compared captions that name a zero."""
    def always_zero(self, images):
        logits = torch.zeros(images.shape[0], 10)
        logits[:, 0] = 1.0
        return logits

    monkeypatch.setattr(heldout.HeldoutExtractor, "classify", always_zero)
    out = tmp_path / "cmp"
    result = cli("compare", "-m", "tiny-mnist-text", "-s", "cosine", "-T", "2", "-n", "20", "-b", "10",
                 "--device", "cpu", "-x", "tiny-mnist,tiny-mnist-heldout", "-o", str(out), "--json")
    assert result.code == 0, result.err
    captions = comparison_labels(read_prompt_file(bundle_caption_file(load_model("tiny-mnist-text")), "captions"), 20)
    zeros = sum(parse_caption(c).class_index == 0 for c in captions)
    assert 0 < zeros < 20
    row = result.json()["results"][0]
    space = row["spaces"]["tiny-mnist-heldout"]
    assert space["class_agreement"] == pytest.approx(zeros / 20) and "class_accuracy" not in space
    assert row["class_agreement"] > zeros / 20  # the training space's own classifier reads the digits
    assert "class agreement (tiny-mnist-heldout)" in (out / "report.md").read_text()


def test_class_agreement_counts_only_captions_that_name_a_class():
    assert class_agreement(["a thick seven", "a small zero", "a slanted digit"], [7, 1, 5]) == 0.5
    assert class_agreement(["a slanted digit"], [5]) is None
    with pytest.raises(ValueError, match="2 captions but 1 predictions"):
        class_agreement(["a seven", "a zero"], [7])


def test_a_text_models_tradeoff_plot_has_an_agreement_panel_for_classes_and_attributes(tmp_path):
    rows = [{"scheduler": "cosine", "label": f"cosine[guidance={g}]", "swept": {"guidance": g}, "fid": 30 - g,
             "precision": 0.7, "recall": 0.7, "class_agreement": 0.9 + g / 100, "attribute_agreement": 0.8 + g / 100}
            for g in (0, 1, 2)]
    plot_tradeoff(rows, tmp_path / "text.png", "text")
    plot_tradeoff([{k: v for k, v in r.items() if "agreement" not in k} for r in rows], tmp_path / "plain.png", "plain")
    width = {name: Image.open(tmp_path / f"{name}.png").size[0] for name in ("text", "plain")}
    assert width["text"] > 2 * width["plain"]  # three panels against one


def test_its_classify_is_the_network_at_its_own_size_and_resizes_other_sizes():
    extractor = heldout.HeldoutExtractor()
    images = torch.rand(4, 3, 28, 28)
    torch.testing.assert_close(extractor.classify(images), extractor.network(images))
    assert extractor.classify(torch.rand(2, 3, 56, 56)).shape == (2, 10)
