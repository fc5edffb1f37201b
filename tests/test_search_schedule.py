"""``adanat search-schedule``: AutoNAT's finite-difference search, its files and exact resumption."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from adanat_cli.schedulers.autonat_search import (
    ScheduleSearch,
    SearchSettings,
    layout,
    theta_from_scheduler,
    to_schedule,
)
from adanat_cli.schedulers.build import build_scheduler


@pytest.fixture
def setup(tmp_path, toy_bundle, toy_extractor):
    rng = np.random.default_rng(0)
    real = tmp_path / "real"
    real.mkdir()
    for i in range(30):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(real / f"{i}.png")
    return ["-m", str(toy_bundle), "-x", "toy", "--real", str(real), "-T", "2", "-n", "12", "-b", "6"]


def test_starting_point_is_the_handcrafted_schedule():
    theta = theta_from_scheduler(build_scheduler("cosine", {"guidance": 1.0}), 4)
    parts = layout(4)
    assert theta[parts["mask_ratio"]] == pytest.approx([math.cos(math.pi / 2 * (t + 1) / 4) for t in range(3)])
    assert theta[parts["remask_temp"]] == pytest.approx([4.5 * (1 - (t + 1) / 4) for t in range(3)])
    assert theta[parts["guidance"]] == pytest.approx([1.0] * 4)
    schedule = to_schedule(theta, 4, "test")
    assert schedule.steps == 4 and len(schedule.sample_temp) == 4


def test_other_measures_are_asked_for_on_each_update_base_schedule_only(tmp_path):
    asked = []

    def evaluate(scheduler, with_measures):
        asked.append(with_measures)
        fid = float(sum(scheduler.schedule.guidance))  # lower guidance, lower "FID": a gradient to follow
        return (fid, {"attribute_agreement": 0.5}) if with_measures else fid

    steps, updates = 2, 3
    theta0 = theta_from_scheduler(build_scheduler("cosine", {"guidance": 1.0}), steps)
    search = ScheduleSearch.start(SearchSettings(steps=steps, updates=updates), theta0, {"model": "toy"}, evaluate,
                                  tmp_path / "s.json", resume=False, overwrite=False)
    state = search.run()
    per_update = [True] + [False] * (len(theta0))
    assert asked == per_update * updates and len(per_update) == 4 * steps - 1
    log = [json.loads(line) for line in (tmp_path / "s.json.log.jsonl").read_text().splitlines()]
    assert [entry["attribute_agreement"] for entry in log] == [0.5] * updates
    assert state.best_measures == {"attribute_agreement": 0.5} and state.best_fid < 2.0


def test_search_writes_schedule_state_and_log_and_the_schedule_drives_autonat(cli, setup, tmp_path):
    out = tmp_path / "sched.json"
    result = cli("search-schedule", *setup, "-u", "2", "-o", str(out))
    assert result.code == 0, result.err
    schedule = json.loads(out.read_text())
    assert schedule["format"] == "adanat-schedule" and schedule["steps"] == 2
    log = [json.loads(line) for line in (tmp_path / "sched.json.log.jsonl").read_text().splitlines()]
    assert [entry["update"] for entry in log] == [1, 2]
    assert all(0.0 <= m <= 0.99 for m in schedule["mask_ratio"])
    assert all(v >= 1e-4 for v in schedule["sample_temp"] + schedule["remask_temp"] + schedule["guidance"])
    sampled = cli("sample", "-m", setup[1], "-s", "autonat", "-T", "2", "-a", f"file={out}", "-c", "0", "-n", "2",
                  "-o", str(tmp_path / "s"))
    assert sampled.code == 0, sampled.err


def test_resumed_search_equals_an_uninterrupted_one(cli, setup, tmp_path):
    whole, split = tmp_path / "whole.json", tmp_path / "split.json"
    assert cli("search-schedule", *setup, "-u", "2", "-o", str(whole)).code == 0
    assert cli("search-schedule", *setup, "-u", "1", "-o", str(split)).code == 0
    again = cli("search-schedule", *setup, "-u", "2", "-o", str(split))
    assert again.code != 0 and "--resume" in again.err
    assert cli("search-schedule", *setup, "-u", "2", "-o", str(split), "--resume").code == 0
    a = json.loads((tmp_path / "whole.json.state.json").read_text())
    b = json.loads((tmp_path / "split.json.state.json").read_text())
    assert a["theta"] == b["theta"] and a["velocity"] == b["velocity"] and a["update"] == b["update"] == 2


def test_a_damaged_search_state_is_not_resumed_from(cli, setup, tmp_path):
    out = tmp_path / "s.json"
    assert cli("search-schedule", *setup, "-u", "1", "-o", str(out)).code == 0
    state = tmp_path / "s.json.state.json"
    data = json.loads(state.read_text())
    data["theta"][0] += 0.5  # a plausible number, silently wrong
    state.write_text(json.dumps(data))
    result = cli("search-schedule", *setup, "-u", "2", "-o", str(out), "--resume")
    assert result.code == 2 and "damaged" in result.err and len(result.err.strip().splitlines()) == 1


@pytest.mark.parametrize("change", [["-n", "6"], ["--seed", "7"]])
def test_a_search_is_not_resumed_on_other_images(cli, setup, tmp_path, change):
    out = tmp_path / "s.json"
    assert cli("search-schedule", *setup, "-u", "1", "-o", str(out)).code == 0
    before = (tmp_path / "s.json.state.json").read_bytes()
    result = cli("search-schedule", *setup, *change, "-u", "2", "-o", str(out), "--resume")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert f"resume it with the same {change[0].replace('-n', '--num')}" in result.err
    assert (tmp_path / "s.json.state.json").read_bytes() == before


def test_bundle_shipped_schedule_is_used_for_its_steps(cli, toy_bundle, tmp_path):
    searched = tmp_path / "searched.json"
    to_schedule([0.5, 2.0, 1.0, 1.0, 0.0, 3.0], 2, "shipped").save(searched)
    assert cli("ship", str(tmp_path / "not-a-bundle"), str(searched)).code != 0
    assert not (tmp_path / "not-a-bundle").exists()
    assert cli("ship", str(toy_bundle), str(searched)).code == 0
    config = json.loads((toy_bundle / "config.json").read_text())
    assert config["schedules"] == {"autonat": {"2": {"file": "schedules/autonat-T2.json"}}}
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "adanat-schedule"}')
    before = sorted(p.name for p in (toy_bundle / "schedules").iterdir()), (toy_bundle / "config.json").read_text()
    assert cli("ship", str(toy_bundle), str(broken)).code != 0  # refused before anything is copied
    assert (sorted(p.name for p in (toy_bundle / "schedules").iterdir()), (toy_bundle / "config.json").read_text()) == before
    out = tmp_path / "s"
    result = cli("sample", "-m", str(toy_bundle), "-s", "autonat", "-T", "2", "-c", "0", "-n", "1", "-o", str(out), "--trace")
    assert result.code == 0, result.err
    manifest = json.loads((out / "samples.json").read_text())
    assert manifest["images"][0]["trace"]["guidance"] == [0.0, 3.0]
    other = cli("sample", "-m", str(toy_bundle), "-s", "autonat", "-T", "3", "-c", "0", "-o", str(tmp_path / "o"))
    assert other.code != 0 and "T=8" in other.err


@pytest.mark.parametrize("bad", [["-u", "0"], ["-n", "1"], ["--lr", "0"], ["--lr-mask", "-1"], ["-T", "1"]])
def test_bad_search_settings_are_one_line_errors(cli, setup, tmp_path, bad):
    result = cli("search-schedule", *setup, *bad, "-o", str(tmp_path / "x.json"))
    assert result.code != 0 and result.err.count("\n") == 1 and "Traceback" not in result.err
    assert not (tmp_path / "x.json").exists()
