"""A table of hostile and careless command lines, over every command. For each: the documented exit
code (docs/errors.md), exactly one `Error:` line, no traceback, never an internal error (70), and
nothing written under the requested output name (a pre-existing output is left untouched).

Placeholders: {out} a fresh output path, {exists} an existing output folder (holding keep.txt),
{file} a text file, {empty} an empty folder, {junk} a folder holding a non-image, {images} a folder of
four 28x28 PNGs, {bundle_file} a file inside no bundle.
"""

from __future__ import annotations

import pytest
from PIL import Image

U, N, B, C, X = 2, 3, 4, 5, 6  # usage, not found, corrupt input, refused checkpoint, output exists

CASES = [
    # ---- sample
    (["sample", "-s", "nope"], N, "unknown scheduler 'nope'"),
    (["sample", "-s", ""], U, "--scheduler is empty"),
    (["sample", "-s", " "], U, "--scheduler is empty"),
    (["sample", "-T", "0", "-c", "1"], U, "--steps must be between"),
    (["sample", "-T", "-3", "-c", "1"], U, "--steps must be between"),
    (["sample", "-T", "50", "-c", "1"], U, "--steps must be between"),
    (["sample", "-T", "x"], U, "Invalid value for '--steps'"),
    (["sample", "-n", "0", "-c", "1"], U, "--num must be at least 1"),
    (["sample", "-n", "-4", "-c", "1"], U, "--num must be at least 1"),
    (["sample", "-n", "99999999999", "-c", "1"], U, "GiB of memory"),
    (["sample", "-n", "1e3"], U, "Invalid value for '--num'"),
    (["sample", "-b", "0", "-c", "1"], U, "--batch-size must be at least 1"),
    (["sample", "-b", "-1", "-c", "1"], U, "--batch-size must be at least 1"),
    (["sample", "-c", "10"], U, "class 10 is outside [0, 10)"),
    (["sample", "-c", "-1"], U, "class -1 is outside"),
    (["sample", "-c", "x"], U, "has no class named 'x'"),
    (["sample", "-c", ""], U, "--class is empty"),
    (["sample", "-c", ","], U, "--class is empty"),
    (["sample", "-c", "golden retriever"], U, "adanat download adanat-L-imagenet256"),
    (["sample", "-c", "99999999999999999999"], U, "outside"),
    (["sample", "-c", "1", "--seed", "-1"], U, "--seed must be between"),
    (["sample", "-c", "1", "--seed", "9223372036854775808"], U, "--seed must be between"),
    (["sample", "-c", "1", "--upscale", "0"], U, "--upscale must be at least 1"),
    (["sample", "-c", "1", "--upscale", "-2"], U, "--upscale must be at least 1"),
    (["sample", "-c", "1", "-a", "guidance"], U, "expected key=value"),
    (["sample", "-c", "1", "-a", "=1"], U, "expected key=value"),
    (["sample", "-c", "1", "-a", "bogus=1"], U, "bogus"),
    (["sample", "-c", "1", "-s", "cosine", "-a", "remask_temp=x"], U, "remask_temp"),
    (["sample", "-c", "1", "--scheduler-config", "/no/such.json"], U, "does not exist"),
    (["sample", "-c", "1", "--scheduler-config", "{file}"], U, "not valid JSON"),
    (["sample", "-c", "1", "-m", "nope"], N, "unknown model 'nope'"),
    (["sample", "-c", "1", "-m", "/no/such/folder"], N, "does not exist"),
    (["sample", "-c", "1", "-m", "{empty}"], B, "no config.json"),
    (["sample", "-c", "1", "-m", "{file}"], B, "not a model bundle folder"),
    (["sample", "-c", "1", "-m", "maskgit-imagenet256"], N, "adanat download maskgit-imagenet256"),
    (["sample", "-c", "1", "--device", "tpu"], U, "tpu"),
    (["sample", "-c", "1", "--device", "cuda:x"], U, "cuda:x"),
    (["sample", "-c", "1", "-s", "autonat", "-T", "3"], U, "T=8"),
    (["sample", "-c", "1", "-s", "adanat", "-T", "3"], U, "trained policy"),
    (["sample", "-c", "1", "-s", "adanat", "-a", "policy=/no/such.safetensors"], U, "does not exist"),
    (["sample", "-c", "1", "-s", "adanat", "-a", "policy={file}"], U, "not a readable safetensors"),
    (["sample", "-c", "1", "-s", "autonat", "-a", "file={file}"], U, "not valid JSON"),
    (["sample", "-c", "1", "-o", "{exists}"], X, "already exists"),
    (["sample", "-c", "1", "-o", "{file}", "--overwrite"], X, "not a folder"),
    (["sample", "--bogus"], U, "No such option"),
    # ---- compare
    (["compare", "-s", ""], U, "--schedulers is empty"),
    (["compare", "-s", ","], U, "--schedulers is empty"),
    (["compare", "-s", "nope"], N, "unknown scheduler 'nope'"),
    (["compare", "-T", "x"], U, "--steps takes a comma list"),
    (["compare", "-T", ""], U, "--steps is empty"),
    (["compare", "-T", "0"], U, "--steps must be between"),
    (["compare", "-T", "99"], U, "--steps must be between"),
    (["compare", "-n", "1"], U, "--num must be at least 2"),
    (["compare", "-n", "0"], U, "--num must be at least"),
    (["compare", "-n", "99999999999"], U, "GiB of memory"),
    (["compare", "-b", "0"], U, "--batch-size must be at least 1"),
    (["compare", "-a", "guidance=1"], U, "expected NAME:key=value"),
    (["compare", "-a", "nope:guidance=1"], U, "expected NAME:key=value"),
    (["compare", "-s", "cosine", "-a", "cosine:guidance=0,,1"], U, "without empty values"),
    (["compare", "-s", "cosine", "-a", "cosine:guidance=1", "-a", "cosine:guidance=0,1"], U, "both fixed and swept"),
    (["compare", "-s", "cosine", "-a", "cosine:bogus=1"], U, "bogus"),
    (["compare", "-x", "nope"], N, "unknown feature extractor 'nope'"),
    (["compare", "-x", ","], U, "--extractor is empty"),
    (["compare", "--real", "/no/such"], U, "not a folder nor a built-in source"),
    (["compare", "--real", "{empty}"], U, "no images"),
    (["compare", "--reference", "nope", "-x", "tiny-mnist"], N, "no statistics named 'nope'"),
    (["compare", "--seed", "-1"], U, "--seed must be between"),
    (["compare", "-c", "10"], U, "class 10 is outside"),
    (["compare", "-c", "zebra"], U, "no class named 'zebra'"),
    (["compare", "-m", "nope"], N, "unknown model 'nope'"),
    (["compare", "-s", "autonat", "-T", "3"], U, "T=8"),
    (["compare", "-o", "{exists}"], X, "already exists"),
    (["compare", "--device", "gpu"], U, "gpu"),
    # ---- fid
    (["fid"], U, "folder"),
    (["fid", "{images}"], U, "--stats"),
    (["fid", "{images}", "{images}", "{images}"], U, "two folders"),
    (["fid", "/no/such", "{images}", "-x", "tiny-mnist"], U, "/no/such is not a folder"),
    (["fid", "{empty}", "{images}", "-x", "tiny-mnist"], U, "no images"),
    (["fid", "{junk}", "{images}", "-x", "tiny-mnist"], U, "junk"),
    (["fid", "{file}", "{images}", "-x", "tiny-mnist"], U, "not a folder"),
    (["fid", "{images}", "--stats", "nope", "-x", "tiny-mnist"], N, "no statistics named 'nope'"),
    (["fid", "{images}", "--stats", "../x", "-x", "tiny-mnist"], U, "invalid statistics name"),
    (["fid", "{images}", "{images}", "-x", "nope"], N, "unknown feature extractor 'nope'"),
    (["fid", "--make-stats", "x", "{images}", "{images}", "-x", "tiny-mnist"], U, "exactly one folder"),
    (["fid", "--make-stats", "", "{images}", "-x", "tiny-mnist"], U, "invalid statistics name"),
    (["fid", "{images}", "{images}", "-x", "tiny-mnist", "-b", "0"], U, "batch"),
    (["fid", "{images}", "{images}", "-x", "tiny-mnist", "--k", "0"], U, "--k"),
    (["fid", "{images}", "{images}", "--device", "tpu", "-x", "tiny-mnist"], U, "tpu"),
    # ---- train-policy
    (["train-policy", "-u", "0", "-o", "{out}"], U, "--updates must be at least 1"),
    (["train-policy", "-u", "-1", "-o", "{out}"], U, "--updates must be at least 1"),
    (["train-policy", "--trajectories", "0", "-o", "{out}"], U, "--trajectories must be at least 1"),
    (["train-policy", "-b", "0", "-o", "{out}"], U, "--batch-size must be at least 1"),
    (["train-policy", "--epochs", "0", "-o", "{out}"], U, "--epochs must be at least 1"),
    (["train-policy", "--checkpoint-every", "0", "-o", "{out}"], U, "--checkpoint-every must be at least 1"),
    (["train-policy", "--eval-every", "-1", "-o", "{out}"], U, "--eval-every must be ≥ 0"),
    (["train-policy", "--eval-num", "1", "-o", "{out}"], U, "--eval-num ≥ 2"),
    (["train-policy", "--lr", "0", "-o", "{out}"], U, "positive finite"),
    (["train-policy", "--lr", "-1e-3", "-o", "{out}"], U, "positive finite"),
    (["train-policy", "--lr", "inf", "-o", "{out}"], U, "positive finite"),
    (["train-policy", "--lr", "nan", "-o", "{out}"], U, "positive finite"),
    (["train-policy", "--action-std", "0", "-o", "{out}"], U, "positive finite"),
    (["train-policy", "--min-std", "-1", "-o", "{out}"], U, "positive finite"),
    (["train-policy", "--std-decay", "-1", "-o", "{out}"], U, "--std-decay must be"),
    (["train-policy", "--std-decay", "inf", "-o", "{out}"], U, "--std-decay must be"),
    (["train-policy", "--std-milestones", "x", "-o", "{out}"], U, "--std-milestones takes a comma list"),
    (["train-policy", "-r", "nope", "-o", "{out}"], N, "unknown reward 'nope'"),
    (["train-policy", "--reward-arg", "bogus=1", "-u", "1", "-o", "{out}"], U, "bad --reward-arg"),
    (["train-policy", "--network-arg", "bogus=1", "-u", "1", "-o", "{out}"], U, "bad --reward-arg or --network-arg"),
    (["train-policy", "--network-arg", "hidden=x", "-o", "{out}"], U, "a layer size must be a positive integer"),
    (["train-policy", "--network-arg", "hidden=-1", "-o", "{out}"], U, "a layer size must be a positive integer"),
    (["train-policy", "-T", "1", "-o", "{out}"], U, "--steps must be between 2"),
    (["train-policy", "-T", "99", "-o", "{out}"], U, "--steps must be between 2"),
    (["train-policy", "--seed", "-1", "-o", "{out}"], U, "--seed must be ≥ 0"),
    (["train-policy", "--data", "/no/such", "-o", "{out}"], U, "does not exist"),
    (["train-policy", "-m", "nope", "-o", "{out}"], N, "unknown model 'nope'"),
    (["train-policy", "--resume", "-o", "{out}"], U, "nothing to resume"),
    (["train-policy", "--resume", "-o", "{exists}"], U, "nothing to resume"),
    (["train-policy", "-o", "{exists}"], X, "pass --overwrite to start it afresh"),
    (["train-policy", "-u", "1", "-o", "{file}"], X, "is not a folder"),
    # ---- search-schedule
    (["search-schedule", "-u", "0", "-o", "{out}.json"], U, "--updates"),
    (["search-schedule", "-n", "1", "-o", "{out}.json"], U, "--num"),
    (["search-schedule", "--lr", "0", "-o", "{out}.json"], U, "--lr and --lr-mask must be positive"),
    (["search-schedule", "--lr", "inf", "-o", "{out}.json"], U, "--lr and --lr-mask must be positive"),
    (["search-schedule", "--lr-mask", "nan", "-o", "{out}.json"], U, "--lr and --lr-mask must be positive"),
    (["search-schedule", "-T", "1", "-o", "{out}.json"], U, "--steps"),
    (["search-schedule", "--start", "nope", "-o", "{out}.json"], N, "unknown scheduler 'nope'"),
    (["search-schedule", "--start-arg", "x", "-o", "{out}.json"], U, "expected key=value"),
    (["search-schedule", "--resume", "-o", "{out}.json"], U, "resume"),
    (["search-schedule", "--seed", "-1", "-T", "2", "-n", "4", "-o", "{out}.json"], U, "--seed must be between"),
    (["search-schedule", "-m", "nope", "-o", "{out}.json"], N, "unknown model 'nope'"),
    # ---- download
    (["download"], U, "give a zoo model name"),
    (["download", "nope"], N, "nope"),
    (["download", "maskgit-imagenet256"], N, "HF_HUB_OFFLINE"),
    (["download", "autonat-L-imagenet256"], N, "adanat-drive"),
    (["download", "enat-L-imagenet256"], U, "--file nnet=PATH"),
    (["download", "enat-L-imagenet256", "--file", "nnet"], U, "--file takes ROLE=PATH"),
    (["download", "enat-L-imagenet256", "--file", "=x"], U, "--file takes ROLE=PATH"),
    (["download", "enat-L-imagenet256", "--file", "nnet=/no/such.pth"], U, "is not a file"),
    (["download", "enat-L-imagenet256", "--file", "bogus={file}"], U, "has no file 'bogus'"),
    (["download", "enat-L-imagenet256", "--file", "nnet={file}", "--file", "tokenizer={file}"], C, "not a torch checkpoint"),
    # ---- import
    (["import", "-f", "nope", "--nnet", "{file}", "--tokenizer", "{file}", "--name", "x", "-o", "{out}"], U, "nope"),
    (["import", "-f", "autonat", "--nnet", "/no/such.pth", "--tokenizer", "{file}", "--name", "x", "-o", "{out}"], N, "does not exist"),
    (["import", "-f", "autonat", "--nnet", "{file}", "--tokenizer", "/no/such.ckpt", "--name", "x", "-o", "{out}"], N, "does not exist"),
    (["import", "-f", "autonat", "--nnet", "{file}", "--tokenizer", "{file}", "--name", "x", "-o", "{out}"], C, "not a torch checkpoint"),
    (["import", "-f", "autonat", "--nnet", "{images}/0.png", "--tokenizer", "{images}/1.png", "--name", "x", "-o", "{out}"], C, "torch checkpoint"),
    (["import", "-f", "autonat", "--nnet", "{file}", "--tokenizer", "{file}", "--name", "../x", "-o", "{out}"], U, "plain name"),
    (["import", "-f", "enat", "--nnet", "{file}", "--tokenizer", "{file}", "--name", "x", "--enc-dec", "x", "-o", "{out}"], U, "--enc-dec"),
    (["import", "-f", "autonat", "--nnet", "{file}", "--tokenizer", "{file}", "--name", "x", "--policy", "/no/such.pth", "-o", "{out}"], N, "does not exist"),
    (["import", "-f", "autonat", "--nnet", "{file}", "--tokenizer", "{file}", "--name", "x", "-o", "{exists}"], X, "already exists"),
    (["import", "-f", "autonat"], U, "Missing option"),
    # ---- ship
    (["ship", "nope", "{file}"], N, "unknown model 'nope'"),
    (["ship", "{empty}", "{file}"], B, "no config.json"),
    (["ship", "{bundle}", "/no/such.safetensors"], U, "does not exist"),
    (["ship", "{bundle}", "{file}"], U, "not a readable safetensors"),
    (["ship", "{bundle}", "{json}", "--recommend"], U, "--recommend applies to policies only"),
    (["ship", "{bundle}", "{json}"], U, "schedule file"),
    # ---- config, classes, plugins
    (["config", "set", "colour", "blue"], U, "unknown setting 'colour'"),
    (["config", "set", "model", "nope"], N, "unknown model 'nope'"),
    (["config", "set", "model", "adanat-L-imagenet256"], N, "adanat download adanat-L-imagenet256"),
    (["config", "unset", "colour"], U, "unknown setting 'colour'"),
    (["config", "set"], U, "Missing argument"),
    (["classes", "-m", "nope"], N, "unknown model 'nope'"),
    (["classes", "-m", "{empty}"], B, "no config.json"),
    (["plugins", "-g", "nope"], U, "nope"),
    (["nope"], U, "No such command"),
]


@pytest.fixture
def places(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("ADANAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ADANAT_MODEL", raising=False)
    exists = tmp_path / "exists"
    exists.mkdir()
    (exists / "keep.txt").write_text("precious")
    (exists / "settings.json").write_text("{}")
    (tmp_path / "file.txt").write_text("not what you think\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.png").write_text("not a png")
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        Image.new("RGB", (28, 28), (i * 40, 0, 0)).save(images / f"{i}.png")
    from tests.random_bundle import make_random_bundle

    bundle = make_random_bundle(tmp_path / "bundle")
    (tmp_path / "schedule.json").write_text('{"not": "a schedule"}')
    return {"out": str(tmp_path / "out"), "exists": str(exists), "file": str(tmp_path / "file.txt"),
            "empty": str(tmp_path / "empty"), "junk": str(tmp_path / "junk"), "images": str(images),
            "bundle": str(bundle), "json": str(tmp_path / "schedule.json")}


def test_the_table_is_big_enough():
    assert len(CASES) >= 150
    assert {args[0] for args, _, _ in CASES} >= {"sample", "compare", "fid", "train-policy", "search-schedule",
                                                   "download", "import", "ship", "config", "classes", "plugins"}


@pytest.mark.parametrize("args, code, message", CASES, ids=[" ".join(a)[:60] for a, _, _ in CASES])
def test_hostile_input(cli, places, tmp_path, args, code, message):
    args = [a.format(**places) for a in args]
    if not any(a in ("-o", "--out") for a in args) and args[0] in ("sample", "compare"):
        args += ["-o", places["out"]]
    result = cli(*args)
    errors = [line for line in result.err.splitlines() if line.startswith("Error: ")]
    assert "Traceback" not in result.err and len(errors) == 1, result.err
    assert result.code == code and message in errors[0], (result.code, errors[0])
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.json").exists()
    assert sorted(p.name for p in (tmp_path / "exists").iterdir()) == ["keep.txt", "settings.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "a temp file was left"
