"""Policy training, comparison and FID for a text-conditioned model: captions in place of classes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from adanat_cli.data.captions import alignment, caption_dataset, measure_attributes
from adanat_cli.data.real_captions import captioned_real_images
from adanat_cli.data.sources import mnist5k
from adanat_cli.errors import UsageError
from adanat_cli.evaluation.captions import AlignmentTally

pytestmark = pytest.mark.usefixtures("one_thread")

CAPTIONS = ["a thin upright three", "a thick seven", "a small, slanted one", "an eight", "a large two", "a thin four"]
SMALL_NET = ["--network-arg", "hidden=16", "--network-arg", "pointwise=4", "--network-arg", "fc1=16",
             "--network-arg", "fc2=8"]


@pytest.fixture(scope="module")
def text_model(quick_text_bundle, tmp_path_factory):
    """A private copy of the quick text bundle whose evaluation reads 60 real digits (6 per class, in
    class folders 0..9), so evaluations are quick; the shared bundle stays untouched."""
    root = tmp_path_factory.mktemp("text-policy")
    bundle = root / "tiny-mnist-text-quick"
    shutil.copytree(quick_text_bundle, bundle)
    images, labels = mnist5k()
    for c in range(10):
        (root / "digits" / str(c)).mkdir(parents=True)
        for i, index in enumerate(torch.nonzero(labels == c).flatten()[:6].tolist()):
            pixels = (images[index, 0] * 255).round().to(torch.uint8).numpy()
            Image.fromarray(pixels).save(root / "digits" / str(c) / f"{i}.png")
    config = json.loads((bundle / "config.json").read_text())
    config["evaluation"] = {**config["evaluation"], "real": str(root / "digits")}
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


@pytest.fixture
def captions_file(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text("\n".join(CAPTIONS) + "\n")
    return path


def train_args(model, captions_file):
    return ["-m", str(model), "-T", "3", "--trajectories", "8", "-b", "4", "--lr", "1e-3", *SMALL_NET,
            "--reward-arg", "d_batch=8", "--eval-num", "6", "--captions", str(captions_file), "--device", "cpu"]


def _tensors(path):
    return {k: v.clone() for k, v in load_file(str(path)).items()}


def test_training_on_captions_exports_a_policy_that_samples_from_a_prompt(cli, text_model, captions_file, tmp_path):
    run = tmp_path / "run"
    result = cli("train-policy", *train_args(text_model, captions_file), "-u", "2", "--eval-every", "2", "-o", str(run))
    assert result.code == 0, result.err
    assert f"prompts: 6 captions of {captions_file}" in result.err
    assert "captioned by their digit attributes" in result.err
    log = [json.loads(line) for line in (run / "train.jsonl").read_text().splitlines()]
    assert [entry["update"] for entry in log] == [1, 2]
    assert all("d_acc" in e for e in log)
    assert {"eval_fid", "eval_class_agreement", "eval_attribute_agreement"} <= set(log[1])
    assert (run / "captions.txt").read_text().splitlines() == CAPTIONS  # the run keeps its captions
    assert (run / "best.safetensors").is_file()
    assert torch.any(_tensors(run / "policy.safetensors")["linear3.weight"] != 0)

    out = tmp_path / "samples"
    sampled = cli("sample", "-m", str(text_model), "--scheduler", "adanat", "-T", "3", "--scheduler-arg",
                  f"policy={run / 'policy.safetensors'}", "--prompt", "a thin upright three", "-n", "2",
                  "-o", str(out), "--trace", "--device", "cpu")
    assert sampled.code == 0, sampled.err
    manifest = json.loads((out / "samples.json").read_text())
    assert [image["prompt"] for image in manifest["images"]] == ["a thin upright three"] * 2
    assert len(manifest["images"][0]["trace"]["mask_ratio"]) == 3


def test_the_discriminator_reads_the_prompts_pooled_text_embeddings(cli, text_model, captions_file, tmp_path,
                                                                    monkeypatch):
    from adanat_cli.models.bundle import load_bundle
    from adanat_cli.training.discriminator import ProjectionDiscriminator

    pooled_dim = load_bundle(text_model).text_encoder.pooled_dim
    seen, embeds = [], []
    forward = ProjectionDiscriminator.forward

    def spy(self, images, labels):
        seen.append((tuple(images.shape), tuple(labels.shape), labels.dtype))
        embeds.append(self.embed)
        return forward(self, images, labels)

    monkeypatch.setattr(ProjectionDiscriminator, "forward", spy)
    result = cli("train-policy", *train_args(text_model, captions_file), "-u", "1", "--eval-every", "0",
                 "-o", str(tmp_path / "run"))
    assert result.code == 0, result.err
    assert seen and all(len(shape) == 2 and shape[1] == pooled_dim and dtype == torch.float32
                        for _, shape, dtype in seen)
    assert {shape[0] for _, shape, _ in seen} == {8, 16}  # scoring 8 fakes; learning on 8 real + 8 fake
    assert all(isinstance(e, torch.nn.Linear) and e.in_features == pooled_dim for e in embeds)


@pytest.mark.parametrize("reward", ["classifier", "fid"])
def test_the_other_rewards_train_a_text_model(cli, text_model, captions_file, tmp_path, reward):
    args = [a for a in train_args(text_model, captions_file) if a != "d_batch=8" and a != "--reward-arg"]
    extra = ["--reward-arg", "reward_batch=4"] if reward == "fid" else []
    result = cli("train-policy", *args, "-r", reward, *extra, "-u", "1", "--eval-every", "0", "-o", str(tmp_path / "r"))
    assert result.code == 0, result.err


def test_the_clip_score_term_trains_a_text_model_and_is_recorded(cli, text_model, captions_file, tmp_path):
    result = cli("train-policy", *train_args(text_model, captions_file), "--reward-arg", "clip_weight=0.5", "-u", "1",
                 "--eval-every", "0", "-o", str(tmp_path / "clip"))
    assert result.code == 0, result.err
    settings = json.loads((tmp_path / "clip" / "settings.json").read_text())
    assert settings["reward_options"] == {"d_batch": 8, "clip_weight": 0.5}


def test_the_caption_term_trains_a_text_model_and_is_recorded(cli, text_model, captions_file, tmp_path):
    result = cli("train-policy", *train_args(text_model, captions_file), "--reward-arg", "caption_weight=0.4",
                 "-u", "1", "--eval-every", "0", "-o", str(tmp_path / "capw"))
    assert result.code == 0, result.err
    settings = json.loads((tmp_path / "capw" / "settings.json").read_text())
    assert settings["reward_options"] == {"d_batch": 8, "caption_weight": 0.4}


def test_resuming_a_captions_run_continues_exactly_with_its_own_captions(cli, text_model, captions_file, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    args = [*train_args(text_model, captions_file), "--eval-every", "0", "--checkpoint-every", "1"]
    assert cli("train-policy", *args, "-u", "2", "-o", str(whole)).code == 0
    assert cli("train-policy", *args, "-u", "1", "-o", str(split)).code == 0
    captions_file.unlink()  # the run's own copy carries on
    without = [a for a in args if a not in ("--captions", str(captions_file))]
    resumed = cli("train-policy", *without, "-u", "2", "-o", str(split), "--resume")
    assert resumed.code == 0, resumed.err
    a, b = _tensors(whole / "policy.safetensors"), _tensors(split / "policy.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    other = tmp_path / "other.txt"
    other.write_text("a seven\n")
    refused = cli("train-policy", *without, "--captions", str(other), "-u", "3", "-o", str(split), "--resume")
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1, refused.err
    assert "trained on other captions" in refused.err


def test_compare_on_captions_reports_caption_alignment(cli, text_model, captions_file, tmp_path):
    out = tmp_path / "cmp"
    result = cli("compare", "-m", str(text_model), "-s", "cosine,linear", "-T", "3", "-n", "6", "-b", "6",
                 "--captions", str(captions_file), "-o", str(out), "--device", "cpu", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["captions"] == str(captions_file) and report["num_captions"] == 6 and "classes" not in report
    for row in report["results"]:
        assert 0 <= row["class_agreement"] <= 1 and 0 <= row["attribute_agreement"] <= 1
        assert row["class_accuracy"] is None and row["alignment"]["class_count"] == 6
    markdown = (out / "report.md").read_text()
    assert "| class agreement | attribute agreement |" in markdown and f"captions of `{captions_file}`" in markdown

    default = cli("compare", "-m", str(text_model), "-s", "cosine", "-T", "3", "-n", "4", "-b", "4",
                  "-o", str(tmp_path / "default"), "--device", "cpu", "--json")
    assert default.code == 0, default.err
    assert default.json()["captions"].endswith("captions-eval.txt")


def test_search_schedule_on_captions_logs_caption_alignment(cli, text_model, captions_file, tmp_path):
    out = tmp_path / "text-T2.json"
    def search(captions, *more):
        return cli("search-schedule", "-m", str(text_model), "-T", "2", "-n", "6", "-b", "6", "--captions",
                   str(captions), "--device", "cpu", "-o", str(out), *more)

    result = search(captions_file, "-u", "1")
    assert result.code == 0, result.err
    assert json.loads(out.read_text())["steps"] == 2
    (entry,) = [json.loads(line) for line in (tmp_path / "text-T2.json.log.jsonl").read_text().splitlines()]
    assert 0 <= entry["class_agreement"] <= 1 and 0 <= entry["attribute_agreement"] <= 1
    assert "class / attribute agreement" in result.err
    state = json.loads((tmp_path / "text-T2.json.state.json").read_text())
    assert state["start"]["captions"] == str(captions_file) and len(state["start"]["captions_sha256"]) == 64
    assert set(state["best_measures"]) == {"class_agreement", "attribute_agreement"}

    other = tmp_path / "other.txt"
    other.write_text("a seven\n")
    before = (tmp_path / "text-T2.json.state.json").read_bytes()
    refused = search(other, "-u", "2", "--resume")
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1, refused.err
    assert "search on other captions" in refused.err
    assert (tmp_path / "text-T2.json.state.json").read_bytes() == before
    resumed = search(captions_file, "-u", "2", "--resume")
    assert resumed.code == 0, resumed.err
    assert [json.loads(line)["update"] for line in (tmp_path / "text-T2.json.log.jsonl").read_text().splitlines()] == [1, 2]

    default = cli("search-schedule", "-m", str(text_model), "-T", "2", "-n", "4", "-b", "4", "-u", "1", "--device", "cpu",
                  "-o", str(tmp_path / "default.json"))
    assert default.code == 0, default.err
    assert json.loads((tmp_path / "default.json.state.json").read_text())["start"]["captions"].endswith("captions-eval.txt")


@pytest.mark.parametrize("command", ["train-policy", "compare", "search-schedule"])
def test_captions_on_a_class_model_and_bad_caption_files_are_one_line(cli, text_model, toy_bundle, captions_file,
                                                                      tmp_path, command):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    cases = [
        (toy_bundle, captions_file, "is class-conditional; captions are for text-conditioned models"),
        (text_model, tmp_path / "missing.txt", "no such file"),
        (text_model, empty, "holds no caption"),
    ]
    for model, file, message in cases:
        out = tmp_path / "out"
        result = cli(command, "-m", str(model), "--captions", str(file), "-o", str(out), "--device", "cpu")
        assert result.code == 2 and message in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1
        assert not out.exists()


def test_a_text_model_without_a_way_to_caption_real_images_is_one_line(cli, text_model, captions_file, tmp_path):
    bundle = tmp_path / "no-captioner"
    shutil.copytree(text_model, bundle)
    config = json.loads((bundle / "config.json").read_text())
    del config["caption_attributes"]
    (bundle / "config.json").write_text(json.dumps(config))
    result = cli("train-policy", *train_args(bundle, captions_file), "-o", str(tmp_path / "run"))
    assert result.code == 2 and "no captions for the real images" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
    refused = cli("train-policy", *train_args(bundle, captions_file), "-r", "classifier", "-o", str(tmp_path / "run"),
                  "--data", str(tmp_path / "nowhere"))
    assert refused.code == 2 and len(refused.err.strip().splitlines()) == 1, refused.err


def test_a_folder_with_captions_tsv_gives_real_images_their_captions(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "captions.tsv").write_text("a.png\ta red square\n\nb.png\ta blue one\n")
    images, captions, how = captioned_real_images(str(tmp_path), {}, (8, 8), seed=0)
    assert images.shape == (2, 3, 8, 8) and captions == ["a red square", "a blue one"] and "captions.tsv" in how
    (tmp_path / "captions.tsv").write_text("a.png a caption without a tab\n")
    with pytest.raises(UsageError, match=r"captions.tsv:1: expected FILE<TAB>CAPTION"):
        captioned_real_images(str(tmp_path), {}, (8, 8), seed=0)
    (tmp_path / "captions.tsv").write_text("../x.png\ta caption\n")
    with pytest.raises(UsageError, match="outside"):
        captioned_real_images(str(tmp_path), {}, (8, 8), seed=0)


def test_real_digits_are_captioned_by_their_own_attributes(text_model):
    config = json.loads((text_model / "config.json").read_text())
    images, captions, _ = captioned_real_images("mnist5k", config, (28, 28), seed=3)
    _, labels = mnist5k()
    assert len(captions) == len(images) == 5000
    thresholds = config["caption_attributes"]["thresholds"]
    assert captions == caption_dataset(labels, measure_attributes(images), thresholds, seed=3)
    agreed = alignment(images[:500], captions[:500], labels[:500], thresholds)
    assert agreed["class_agreement"] == 1.0 and agreed["attribute_agreement"] == 1.0  # true captions


def test_the_alignment_tally_adds_batches_up_exactly():
    images, labels = mnist5k()
    images, labels = images[:40], labels[:40]
    thresholds = {"thickness": [2.4] * 10, "slant": [0.2] * 10, "size": [15.0] * 10}
    captions = caption_dataset(torch.roll(labels, 1), measure_attributes(images.flip(-1)), thresholds, seed=1)
    predictions = torch.roll(labels, 3)
    whole = alignment(images, captions, predictions, thresholds)
    tally = AlignmentTally()
    for lo in range(0, 40, 7):
        tally.add(alignment(images[lo:lo + 7], captions[lo:lo + 7], predictions[lo:lo + 7], thresholds))
    summed = tally.result()
    assert summed.keys() == whole.keys()
    assert all(summed[k] == pytest.approx(whole[k]) for k in whole)


def test_fid_measures_a_folder_of_text_samples(cli, text_model, captions_file, tmp_path):
    out = tmp_path / "samples"
    assert cli("sample", "-m", str(text_model), "--prompts", str(captions_file), "-n", "1", "-T", "2",
               "-o", str(out), "--device", "cpu").code == 0
    result = cli("fid", str(out), str(text_model.parent / "digits"), "-x", "tiny-mnist", "--k", "2", "--json",
                 "--device", "cpu")
    assert result.code == 0, result.err
    assert result.json()["count_a"] == 6 and result.json()["count_b"] == 60


def test_a_prompt_aware_network_starts_as_the_plain_one_and_then_reads_the_prompt():
    from adanat_cli.schedulers.adanat_network import PolicyNet, reads_prompt

    torch.manual_seed(0)
    plain = PolicyNet(8, (3, 3), hidden=16, pointwise=4, fc1=16, fc2=8)
    aware = PolicyNet(8, (3, 3), hidden=16, pointwise=4, fc1=16, fc2=8, prompt_dim=5)
    with torch.no_grad():
        plain.linear3.weight.normal_()  # a trained output layer: actions depend on the input
    missing, unexpected = aware.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["prompt_embedder.weight", "prompt_embedder.bias"] and not unexpected
    features, step = torch.randn(4, 9, 8), torch.tensor([0, 1, 2, 3])
    prompts = torch.randn(4, 5)
    assert not reads_prompt(plain) and reads_prompt(aware)
    torch.testing.assert_close(aware(features, step, prompts), plain(features, step), rtol=0, atol=0)
    with pytest.raises(ValueError, match="reads the prompt"):
        aware(features, step)
    with torch.no_grad():  # a trained one: c (step and prompt) modulates the layers
        aware.prompt_embedder.weight.normal_()
        for ada in (aware.adaLN1, aware.adaLN2, aware.adaLN3):
            ada.adaLN_modulation[-1].weight.normal_()
    same_features = features[:1].expand(2, -1, -1)
    actions = aware(same_features, step[:2] * 0, prompts[:2])
    assert not torch.allclose(actions[0], actions[1])  # same image state, two prompts, two plans


def test_a_prompt_aware_policy_trains_on_the_prompts_it_was_rolled_out_with(cli, text_model, captions_file, tmp_path,
                                                                           monkeypatch):
    from adanat_cli.models.bundle import load_bundle
    from adanat_cli.training.ppo import PolicyTrainer
    from adanat_cli.training.rewards import AdversarialReward

    pooled_dim = load_bundle(text_model).text_encoder.pooled_dim
    scored, trained = [], []
    score, step = AdversarialReward.__call__, PolicyTrainer.ppo_step

    def spy_score(self, images, labels):
        scored.append(labels.clone())
        return score(self, images, labels)

    def spy_step(self, features, actions, rewards, std, prompts=None):
        trained.append(prompts)
        return step(self, features, actions, rewards, std, prompts)

    monkeypatch.setattr(AdversarialReward, "__call__", spy_score)
    monkeypatch.setattr(PolicyTrainer, "ppo_step", spy_step)
    run = tmp_path / "aware"
    result = cli("train-policy", *train_args(text_model, captions_file), "--prompt-aware", "-u", "2",
                 "--eval-every", "2", "-o", str(run))
    assert result.code == 0, result.err
    # the reward's labels are the rollout's pooled prompt embeddings, in trajectory order: PPO got the same rows
    assert len(trained) == 2 and all(p is not None and p.shape == (8, pooled_dim) for p in trained)
    assert all(torch.equal(p, s) for p, s in zip(trained, scored[:2]))
    assert json.loads((run / "settings.json").read_text())["prompt_aware"] is True
    meta = json.loads((run / "policy.json").read_text())
    assert meta["network"]["prompt_dim"] == pooled_dim
    assert torch.any(_tensors(run / "policy.safetensors")["prompt_embedder.weight"] != 0)  # it learned from prompts

    sampled = cli("sample", "-m", str(text_model), "--scheduler", "adanat", "-T", "3", "--scheduler-arg",
                  f"policy={run / 'policy.safetensors'}", "--prompt", "a thick seven", "-n", "2",
                  "-o", str(tmp_path / "samples"), "--device", "cpu")
    assert sampled.code == 0, sampled.err


def test_a_prompt_aware_run_resumes_exactly(cli, text_model, captions_file, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    args = [*train_args(text_model, captions_file), "--prompt-aware", "--eval-every", "0", "--checkpoint-every", "1"]
    assert cli("train-policy", *args, "-u", "2", "-o", str(whole)).code == 0
    assert cli("train-policy", *args, "-u", "1", "-o", str(split)).code == 0
    resumed = cli("train-policy", *train_args(text_model, captions_file), "-u", "2", "-o", str(split), "--resume")
    assert resumed.code == 0, resumed.err  # the run's own settings.json keeps it prompt-aware
    a, b = _tensors(whole / "policy.safetensors"), _tensors(split / "policy.safetensors")
    assert "prompt_embedder.weight" in a and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_plain_policy_starts_a_prompt_aware_one_unchanged(cli, text_model, captions_file, tmp_path):
    from adanat_cli.schedulers.adanat_files import load_policy

    plain, aware = tmp_path / "plain", tmp_path / "aware"
    assert cli("train-policy", *train_args(text_model, captions_file), "-u", "1", "--eval-every", "0",
               "-o", str(plain)).code == 0
    start = plain / "policy.safetensors"
    result = cli("train-policy", *train_args(text_model, captions_file), "--prompt-aware", "-u", "1",
                 "--eval-every", "0", "--lr", "1e-12", "--init-policy", str(start), "-o", str(aware))
    assert result.code == 0, result.err
    (before, _), (after, _) = load_policy(start), load_policy(aware / "policy.safetensors")
    torch.manual_seed(1)
    step = torch.tensor([0, 1, 2])
    features = torch.randn(3, before.grid[0] * before.grid[1], before.x_embedder.in_features)
    prompts = torch.randn(3, after.prompt_dim)
    torch.testing.assert_close(after(features, step, prompts), before(features, step), rtol=0, atol=1e-6)


def test_prompt_aware_misuse_is_one_line(cli, text_model, toy_bundle, captions_file, tmp_path):
    run = tmp_path / "aware"
    assert cli("train-policy", *train_args(text_model, captions_file), "--prompt-aware", "-u", "1",
               "--eval-every", "0", "-o", str(run)).code == 0
    cases = [
        (("train-policy", "-m", str(toy_bundle), "--prompt-aware", "--device", "cpu", "-o", str(tmp_path / "x")),
         "--prompt-aware is for text-conditioned models"),
        (("train-policy", *train_args(text_model, captions_file), "--prompt-aware", "--static", "-o", str(tmp_path / "x")),
         "--prompt-aware needs the adaptive policy network"),
        (("sample", "-m", "tiny-mnist", "--scheduler", "adanat", "-T", "3", "--scheduler-arg",  # same features and grid
          f"policy={run / 'policy.safetensors'}", "-n", "1", "-o", str(tmp_path / "x"), "--device", "cpu"),
         "this policy reads the prompt"),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.code != 0 and message in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
