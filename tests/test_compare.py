"""``adanat compare``: same seeds for every scheduler, the report's schema, sharding, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from .conftest import free_port


@pytest.fixture
def real_folder(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "real"
    folder.mkdir()
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_compare_writes_a_report_with_every_pair(cli, toy_bundle, toy_extractor, real_folder, tmp_path):
    out = tmp_path / "cmp"
    result = cli("compare", "-m", str(toy_bundle), "-s", "cosine,linear", "-T", "2,4", "-n", "24", "-b", "10",
                 "-x", "toy", "--real", str(real_folder), "-o", str(out), "-a", "linear:guidance=1.0", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["schema"] == "adanat-compare/1"
    assert [(r["scheduler"], r["steps"]) for r in report["results"]] == [
        ("cosine", 2), ("cosine", 4), ("linear", 2), ("linear", 4)]
    for row in report["results"]:
        assert row["fid"] >= 0 and 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1
        assert row["class_accuracy"] is None  # the toy bundle ships no classifier
        assert row["seconds_per_image"] > 0 and row["images_per_second"] > 0
    nfe = {(r["scheduler"], r["steps"]): r["nfe"] for r in report["results"]}
    assert nfe[("cosine", 4)] == 4 and nfe[("linear", 4)] == 2 * 4  # constant w=1: cond+uncond every step
    for name in ("report.md", "report.json", "grid.png", "fid_vs_steps.png"):
        assert (out / name).is_file()
    assert "| cosine | 4 |" in (out / "report.md").read_text()


def test_same_seeds_in_every_row(toy_bundle, toy_extractor, real_folder):
    from adanat_cli.engine.distributed import Shard
    from adanat_cli.evaluation.pairs import evaluate_pair
    from adanat_cli.evaluation.setup import reference_set
    from adanat_cli.metrics.fid import build_extractor
    from adanat_cli.models.bundle import load_bundle
    from adanat_cli.schedulers.build import build_scheduler

    bundle = load_bundle(toy_bundle)
    extractor = build_extractor("toy")
    ref = reference_set(extractor, real=str(real_folder))
    labels = [0, 1, 2] * 4
    a = evaluate_pair(bundle, build_scheduler("cosine"), 1, labels, 3, 5, extractor, ref, None, Shard(), "cpu")
    b = evaluate_pair(bundle, build_scheduler("linear"), 1, labels, 3, 5, extractor, ref, None, Shard(), "cpu")
    # with T=1 every scheduler reveals everything in one step from the same noise: same images
    assert np.array_equal(a.preview, b.preview)
    c = evaluate_pair(bundle, build_scheduler("cosine"), 1, labels, 3, 12, extractor, ref, None, Shard(), "cpu")
    assert c.fid == a.fid  # batch size does not change results


@pytest.mark.parametrize("args, message", [
    (["-s", "cosine,nope"], "unknown scheduler 'nope'"),
    (["-T", "4,x"], "--steps takes a comma list"),
    (["-T", "99"], "--steps must be between 1"),
    (["-n", "1"], "--num must be at least 2"),
    (["-a", "guidance=1"], "expected NAME:key=value"),
    (["-a", "halton:guidance=1"], "expected NAME:key=value"),
    (["-s", "autonat", "-T", "4"], "the published AutoNAT table is for T=8"),
    (["--real", "/no/such/folder"], "not a folder nor a built-in source"),
])
def test_bad_input_is_one_line(cli, toy_bundle, toy_extractor, real_folder, tmp_path, args, message):
    out = tmp_path / "cmp"
    base = ["compare", "-m", str(toy_bundle), "-x", "toy", "-n", "6", "-o", str(out)]
    if "--real" not in args:
        base += ["--real", str(real_folder)]
    result = cli(*base, *args)
    assert result.code != 0 and message in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not out.exists()


EXTRACTOR_PLUGIN = "from tests.fakes import ToyExtractor as Pool\n"  # importable: the repo root is on PYTHONPATH


def _plugin_site(root):
    """A folder that, on PYTHONPATH, provides a feature-extractor plugin through a dist-info."""
    site = root / "site"
    (site / "adanat_test_pool-0.1.dist-info").mkdir(parents=True)
    (site / "adanat_test_pool.py").write_text(EXTRACTOR_PLUGIN)
    (site / "adanat_test_pool-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: adanat-test-pool\nVersion: 0.1\n")
    (site / "adanat_test_pool-0.1.dist-info" / "entry_points.txt").write_text(
        "[adanat.feature_extractors]\npool = adanat_test_pool:Pool\n")
    return site


@pytest.mark.skipif(shutil.which("torchrun") is None and not os.path.exists(os.path.join(os.path.dirname(sys.executable), "torchrun")),
                    reason="torchrun not installed")
def test_two_processes_give_the_same_report_as_one(tmp_path, real_folder):
    from tests.random_bundle import make_random_bundle

    bundle = make_random_bundle(tmp_path / "bundle")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_plugin_site(tmp_path)), repo]), "OMP_NUM_THREADS": "1"}
    args = ["compare", "-m", str(bundle), "-s", "cosine,arccos", "-T", "2,3", "-n", "20", "-b", "4",
            "-x", "pool", "--real", str(real_folder), "--device", "cpu", "--overwrite"]
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    one = subprocess.run([sys.executable, "-m", "adanat_cli", *args, "-o", str(tmp_path / "one")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_port", str(free_port()), "-m", "adanat_cli", *args,
                          "-o", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    a = json.loads((tmp_path / "one" / "report.json").read_text())
    b = json.loads((tmp_path / "two" / "report.json").read_text())
    assert a["processes"] == 1 and b["processes"] == 2
    for ra, rb in zip(a["results"], b["results"], strict=True):
        for key in ("scheduler", "steps", "fid", "precision", "recall", "nfe", "gflops_per_image"):
            assert ra[key] == rb[key], key
        assert ra["gflops_per_image"] > 0  # the U-ViT has an analytic FLOP count


def test_a_comma_list_sweeps_a_parameter():
    from adanat_cli.evaluation.sweeps import expand

    rows = expand("cosine", ["guidance=0,0.5,1", "remask_temp=4.5"])
    assert [r.label for r in rows] == ["cosine[guidance=0]", "cosine[guidance=0.5]", "cosine[guidance=1]"]
    assert [r.args for r in rows] == [{"remask_temp": 4.5, "guidance": g} for g in (0, 0.5, 1)]
    grid = expand("cosine", ["guidance=0,1", "sample_temp=1,2"])
    assert len(grid) == 4 and grid[-1].label == "cosine[guidance=1,sample_temp=2]"
    assert expand("autonat", ["file=[1, 2]"])[0].args == {"file": [1, 2]}  # a JSON list is not a sweep
    assert expand("cosine", [])[0].label == "cosine"


def test_sweep_rows_best_marks_and_tradeoff_pictures(cli, toy_bundle, toy_extractor, real_folder, tmp_path):
    out = tmp_path / "sweep"
    result = cli("compare", "-m", str(toy_bundle), "-s", "cosine,linear", "-T", "2", "-n", "12", "-b", "6",
                 "-x", "toy", "--real", str(real_folder), "-o", str(out), "-a", "cosine:guidance=0,1,2", "--json")
    assert result.code == 0, result.err
    report = result.json()
    labels = [row["label"] for row in report["results"]]
    assert labels == ["cosine[guidance=0]", "cosine[guidance=1]", "cosine[guidance=2]", "linear"]
    assert [row["swept"] for row in report["results"]][:3] == [{"guidance": 0}, {"guidance": 1}, {"guidance": 2}]
    cosine = [row for row in report["results"] if row["scheduler"] == "cosine"]
    best_fid = min(cosine, key=lambda row: row["fid"])["label"]
    assert report["best"]["cosine"]["2"]["fid"] == best_fid
    assert "linear" not in report["best"]  # a single row is not a family to pick from
    assert report["files"]["tradeoff"] == {"2": "tradeoff_T2.png"} and (out / "tradeoff_T2.png").is_file()
    assert "tradeoff_T2.png" in (out / "report.md").read_text()
    assert f"| {best_fid} | 2 | **" in (out / "report.md").read_text()


@pytest.mark.parametrize("arg, message", [
    ("cosine:guidance=0,,1", "without empty values"),
    ("cosine:guidance=1", None),
])
def test_bad_sweeps_are_one_line(cli, toy_bundle, toy_extractor, real_folder, tmp_path, arg, message):
    args = ["compare", "-m", str(toy_bundle), "-s", "cosine", "-T", "2", "-n", "4", "-x", "toy", "--real",
            str(real_folder), "-o", str(tmp_path / "c"), "-a", arg]
    if message is None:  # both fixed and swept
        args += ["-a", "cosine:guidance=0,1"]
        message = "both fixed and swept"
    result = cli(*args)
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()


def test_the_trace_plot_draws_samples_spread_over_the_whole_run():
    from adanat_cli.plots import traced_rows

    rows = traced_rows(2000, 64)
    assert len(rows) == 64 and rows[0] == 0 and rows[-1] == 1999
    # a compare run cycles a class-sorted caption file: the first 64 samples would all be zeros
    assert rows.max() > 1000 and (np.diff(rows) > 0).all()
    assert traced_rows(5, 64).tolist() == [0, 1, 2, 3, 4]
