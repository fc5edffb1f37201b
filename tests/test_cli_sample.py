"""``adanat sample`` end to end on a toy bundle, and its answers to bad input."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image


def _no_leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_sample_writes_pngs_grid_and_manifest(cli, toy_bundle, tmp_path):
    out = tmp_path / "out"
    result = cli("sample", "--model", str(toy_bundle), "--scheduler", "cosine", "--steps", "4",
                 "--class", "1,2", "--num", "3", "--out", str(out), "--seed", "5")
    assert result.code == 0, result.err
    manifest = json.loads((out / "samples.json").read_text())
    assert manifest["steps"] == 4 and manifest["seed"] == 5
    assert manifest["scheduler"]["scheduler"] == "cosine"
    assert [e["class"] for e in manifest["images"]] == [1, 1, 1, 2, 2, 2]
    assert manifest["nfe_per_image"] == 4
    first = Image.open(out / manifest["images"][0]["file"])
    settings = json.loads(first.text["adanat"])
    assert settings["class"] == 1 and settings["steps"] == 4 and settings["model"] == "toy-bundle"
    assert (out / "grid.png").is_file()
    assert _no_leftovers(tmp_path) == []


def test_same_seed_same_images_across_batch_sizes(cli, toy_bundle, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("sample", "-m", str(toy_bundle), "-c", "0,1,2", "-n", "2", "-o", str(a), "-b", "1").code == 0
    assert cli("sample", "-m", str(toy_bundle), "-c", "0,1,2", "-n", "2", "-o", str(b), "-b", "6").code == 0
    for name in json.loads((a / "samples.json").read_text())["images"]:
        assert (a / name["file"]).read_bytes() == (b / name["file"]).read_bytes()


def test_scheduler_args_and_trace_reach_the_manifest(cli, toy_bundle, tmp_path):
    out = tmp_path / "out"
    result = cli("sample", "-m", str(toy_bundle), "-s", "linear", "-T", "3", "-c", "0", "-n", "2", "-o", str(out),
                 "-a", "guidance=2.5", "-a", "guidance_schedule=linear", "--trace")
    assert result.code == 0, result.err
    manifest = json.loads((out / "samples.json").read_text())
    assert manifest["scheduler"]["config"]["guidance"] == 2.5
    trace = manifest["images"][0]["trace"]
    assert trace["guidance"] == pytest.approx([0.0, 2.5 / 3, 2 * 2.5 / 3], abs=1e-6)
    assert manifest["nfe_per_image"] == 1 + 2 + 2  # step 0 has w = 0 and skips the uncond pass
    assert manifest["trace_plot"] == "trace.png" and Image.open(out / "trace.png").size[0] > 200


def test_scheduler_config_file(cli, toy_bundle, tmp_path):
    config = tmp_path / "sched.json"
    config.write_text(json.dumps({"scheduler": "arccos", "config": {"remask_temp": 2.0}}))
    out = tmp_path / "out"
    result = cli("sample", "-m", str(toy_bundle), "--scheduler-config", str(config), "-c", "0", "-n", "1", "-o", str(out))
    assert result.code == 0, result.err
    manifest = json.loads((out / "samples.json").read_text())
    assert manifest["scheduler"] == {"scheduler": "arccos", "config": pytest.approx(manifest["scheduler"]["config"])}
    assert manifest["scheduler"]["config"]["remask_temp"] == 2.0


def test_existing_output_is_not_overwritten_without_flag(cli, toy_bundle, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    result = cli("sample", "-m", str(toy_bundle), "-c", "0", "-n", "1", "-o", str(out))
    assert result.code != 0 and "--overwrite" in result.err
    assert (out / "keep.txt").read_text() == "precious"
    assert cli("sample", "-m", str(toy_bundle), "-c", "0", "-n", "1", "-o", str(out), "--overwrite").code == 0
    assert not (out / "keep.txt").exists() and (out / "samples.json").exists()
    assert _no_leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["-s", "cosin"], "did you mean 'cosine'"),
        (["-c", "3"], "class 3 is outside [0, 3)"),
        (["-c", "-1"], "outside"),
        (["-c", "x"], "has no class named 'x'"),
        (["-T", "0"], "--steps must be between 1 and the number of tokens (16)"),
        (["-T", "17"], "--steps must be between 1"),
        (["-n", "0"], "--num must be at least 1"),
        (["-b", "0"], "--batch-size must be at least 1"),
        (["-a", "novalue"], "malformed --scheduler-arg 'novalue'"),
        (["-a", "bogus=1"], "unexpected keyword argument 'bogus'"),
        (["-a", "remask_temp=-1"], "remask_temp"),
        (["--device", "tpu"], "device"),
        (["--scheduler-config", "/nonexistent.json"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_nonzero_exit(cli, toy_bundle, tmp_path, args, message):
    out = tmp_path / "out"
    result = cli("sample", "-m", str(toy_bundle), "-c", "0", "-o", str(out), *args)
    assert result.code != 0
    assert message in result.err
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert not out.exists() and _no_leftovers(tmp_path) == []


def test_unknown_model_suggests_nothing_silly(cli, tmp_path):
    result = cli("sample", "-m", "no-such-model", "-o", str(tmp_path / "o"))
    assert result.code != 0 and "unknown model 'no-such-model'" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("damage", ["missing_config", "bad_json", "missing_weights", "truncated", "garbage", "wrong_type"])
def test_damaged_bundles_are_refused_with_one_line(cli, toy_bundle, tmp_path, damage):
    broken = tmp_path / "broken"
    shutil.copytree(toy_bundle, broken)
    weights = broken / "backbone.safetensors"
    if damage == "missing_config":
        (broken / "config.json").unlink()
    elif damage == "bad_json":
        (broken / "config.json").write_text("{not json")
    elif damage == "missing_weights":
        weights.unlink()
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "garbage":
        data = bytearray(weights.read_bytes())
        data[-50:] = b"\xff" * 50
        weights.write_bytes(bytes(data))
    elif damage == "wrong_type":
        config = json.loads((broken / "config.json").read_text())
        config["backbone"]["type"] = "nonexistent"
        (broken / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    result = cli("sample", "-m", str(broken), "-c", "0", "-o", str(out))
    assert result.code != 0
    assert result.err.startswith("Error:") and len(result.err.strip().splitlines()) == 1, result.err
    assert not out.exists()


def test_debug_flag_shows_the_traceback(cli, tmp_path):
    result = cli("--debug", "sample", "-m", "no-such-model", "-o", str(tmp_path / "o"))
    assert result.code != 0 and "Traceback" in result.err


def test_random_uvit_vqgan_bundle_samples_end_to_end(cli, tmp_path):
    """The real plugin types (uvit + vqgan-jax) through save, load and the CLI."""
    from tests.random_bundle import make_random_bundle

    bundle = make_random_bundle(tmp_path / "tiny-random")
    out = tmp_path / "out"
    result = cli("sample", "-m", str(bundle), "-s", "arccos", "-c", "7", "-n", "4", "-o", str(out),
                 "-a", "guidance=1.0", "--upscale", "3")
    assert result.code == 0, result.err
    manifest = json.loads((out / "samples.json").read_text())
    assert len(manifest["images"]) == 4 and manifest["nfe_per_image"] == 2 * 4
    image = Image.open(out / manifest["images"][0]["file"])
    assert image.size == (3 * 16, 3 * 16) and image.mode == "RGB"


def test_bundle_round_trip_gives_identical_outputs(tmp_path):
    import torch

    from adanat_cli.models.bundle import load_bundle
    from tests.random_bundle import make_random_bundle

    path = make_random_bundle(tmp_path / "b", seed=3)
    first, second = load_bundle(path), load_bundle(path)
    tokens = torch.randint(0, 64, (2, 16))
    labels = torch.tensor([1, 10])
    assert torch.equal(first.backbone(tokens, labels).logits, second.backbone(tokens, labels).logits)
    assert first.backbone.config == second.backbone.config
    codes = tokens.view(2, 4, 4)
    assert torch.equal(first.tokenizer.decode(codes), second.tokenizer.decode(codes))
