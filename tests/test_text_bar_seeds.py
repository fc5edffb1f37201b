"""scripts/text_bar_seeds.py: the text-to-image bar's verdict, per seed and on the means."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bar(load_script):
    return load_script("text_bar_seeds")


def rows(**named):
    return {name: dict(zip(("fid", "class", "attribute"), values)) for name, values in named.items()}


def test_the_best_cosine_row_sets_both_the_fid_and_the_alignment_allowance(bar):
    table = rows(**{"cosine 0.5": (25.0, 0.96, 0.87), "cosine 1": (24.0, 0.98, 0.90),
                    "close": (19.0, 0.975, 0.891), "short on attributes": (19.0, 0.99, 0.889),
                    "short on FID": (19.3, 0.99, 0.95)})
    verdict = bar.verdicts(table)
    assert {v["best_row"] for v in verdict.values()} == {"cosine 1"}
    assert verdict["close"]["met"]  # 0.79x, -0.5 class and -0.9 attribute points
    assert not verdict["short on attributes"]["met"]  # -1.1 attribute points
    assert not verdict["short on FID"]["met"]  # 0.804x
    assert verdict["short on FID"]["ratio"] == pytest.approx(19.3 / 24.0)


def test_a_cosine_row_against_a_negative_prompt_is_a_row_of_its_own(bar):
    def result(**config):
        return {"scheduler": "cosine", "config": {"guidance": 1.0, **config}}

    assert bar.row_name(result(), []) == "cosine 1"
    assert bar.row_name(result(negative_prompt="", negative_share=1.0), []) == "cosine 1"
    assert bar.row_name(result(negative_prompt="@subject", negative_share=0.0), []) == "cosine 1"  # plain guidance
    assert bar.row_name(result(negative_prompt="@subject", negative_share=0.25), []) == "cosine 1 @subject 0.25"
    table = rows(**{"cosine 1": (24.0, 0.98, 0.90), "cosine 1 @subject 0.25": (20.0, 0.97, 0.90),
                    "policy": (18.0, 0.98, 0.90)})
    assert bar.verdicts(table)["policy"]["best_row"] == "cosine 1 @subject 0.25"  # the baseline sweeps it too


def test_a_push_against_the_negative_prompt_names_a_row_of_its_own(bar):
    cosine = {"scheduler": "cosine", "config": {"guidance": 0.5, "negative_prompt": "@subject", "negative_share": 0.0,
                                                "negative_guidance": 0.5}}
    assert bar.row_name(cosine, []) == "cosine 0.5 @subject 0 push 0.5"
    policy = {"scheduler": "adanat", "config": {"policy": "/x/S1.safetensors", "negative_guidance": 0.75}}
    assert bar.row_name(policy, [("S1", "S1.safetensors")]) == "S1 push 0.75"
    policy["config"]["negative_guidance"] = None  # what the policy file says: the row keeps the plain name
    assert bar.row_name(policy, [("S1", "S1.safetensors")]) == "S1"


def test_the_committed_seed_0_reports_give_the_documented_verdicts(bar, tmp_path, monkeypatch):
    results = ROOT / "docs" / "results"
    out = tmp_path / "bar.json"
    monkeypatch.setattr(sys, "argv", [
        "text_bar_seeds.py", str(results / "compare-text-T8-cosine"), str(results / "compare-text-T8-cosine-fine"),
        str(results / "compare-text-T8-adanat-capw0.2"), "--policy", "previous=tiny-mnist-text/policies/adanat-T8.safetensors",
        "--json", str(out)])
    bar.main()
    summary = json.loads(out.read_text())
    training, heldout = summary["tiny-mnist"], summary["tiny-mnist-heldout"]
    assert training["mean_verdicts"]["previous"]["best_row"] == "cosine 0.5"
    assert training["mean_verdicts"]["previous"]["ratio"] == pytest.approx(24.71 / 25.61, abs=1e-3)
    assert heldout["mean_verdicts"]["previous"]["best_row"] == "cosine 1"
    assert heldout["mean_verdicts"]["previous"]["d_attribute"] == pytest.approx(0.872 - 0.898, abs=1e-3)
    assert not training["mean_verdicts"]["previous"]["met"] and not heldout["mean_verdicts"]["previous"]["met"]


def test_the_shipped_weight_average_misses_the_bar_on_the_reported_seed(bar, tmp_path, monkeypatch):
    results = ROOT / "docs" / "results"
    out = tmp_path / "bar.json"
    monkeypatch.setattr(sys, "argv", [
        "text_bar_seeds.py", str(results / "compare-text-T8-cosine"), str(results / "compare-text-T8-cosine-fine"),
        str(results / "compare-text-T8-adanat"), "--policy", "shipped=tiny-mnist-text/policies/adanat-T8.safetensors",
        "--json", str(out)])
    bar.main()
    summary = json.loads(out.read_text())
    training, heldout = summary["tiny-mnist"]["mean_verdicts"]["shipped"], summary["tiny-mnist-heldout"]["mean_verdicts"]["shipped"]
    assert training["ratio"] == pytest.approx(21.18 / 25.61, abs=1e-3) and training["d_attribute"] < -0.01
    assert heldout["best_row"] == "cosine 1" and heldout["d_attribute"] == pytest.approx(0.858 - 0.898, abs=1e-3)
    assert not training["met"] and not heldout["met"]


def test_the_baseline_swept_over_the_subject_share_gives_the_documented_verdicts(bar, tmp_path, monkeypatch):
    results = ROOT / "docs" / "results"
    seeds = results / "bar-seeds"
    out = tmp_path / "bar.json"
    monkeypatch.setattr(sys, "argv", [
        "text_bar_seeds.py", str(results / "compare-text-T8-cosine"), str(results / "compare-text-T8-cosine-fine"),
        *(str(seeds / f"seed{s}") for s in (1, 2, 3)), *(str(seeds / f"subject-seed{s}") for s in range(4)),
        "--policy", "C=C-share0.25-capw0-u20.safetensors", "--json", str(out)])
    bar.main()
    summary = json.loads(out.read_text())
    training, heldout = summary["tiny-mnist"]["mean_verdicts"]["C"], summary["tiny-mnist-heldout"]["mean_verdicts"]["C"]
    assert training["best_row"] == "cosine 0.5" and training["ratio"] == pytest.approx(20.76 / 25.93, abs=2e-3)
    assert not training["met"]  # 0.801x: a hair over the bar
    assert heldout["best_row"] == "cosine 1.5 @subject 0.5" and heldout["d_attribute"] < -0.06 and not heldout["met"]
