"""Shipping a trained policy or a searched schedule inside a model bundle, as the default of
``--scheduler adanat`` / ``--scheduler autonat`` at its T.

    python -m adanat_cli.policy.ship BUNDLE POLICY.safetensors    # from `adanat train-policy`
    python -m adanat_cli.policy.ship BUNDLE SCHEDULE.json         # from `adanat search-schedule`

A policy is copied to ``BUNDLE/policies/adanat-T<steps>.safetensors`` (with its ``.json``) and
registered in config.json under ``"schedules": {"adanat": {"<steps>": {"policy": ...}}}``; a schedule
goes to ``BUNDLE/schedules/autonat-T<steps>.json``, under ``"schedules": {"autonat": {"<steps>":
{"file": ...}}}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ConversionError
from ..models.bundle import add_to_bundle, load_bundle, read_bundle_config
from ..schedulers.autonat import Schedule
from .files import load_policy


def ship_policy(bundle_path: str | Path, policy_file: str | Path, recommend: bool = False) -> Path:
    """Copy the policy into the bundle; with ``recommend`` also make ``adanat`` at the policy's number
    of steps the bundle's recommended scheduler."""
    bundle = load_bundle(bundle_path)
    _, meta = load_policy(policy_file)
    backbone = bundle.backbone
    if meta["feature_dim"] != backbone.feature_dim or list(meta["grid"]) != list(backbone.grid):
        raise ConversionError(
            f"{policy_file}: the policy reads {meta['feature_dim']}-d features on a {meta['grid'][0]}x{meta['grid'][1]} "
            f"grid; the model has {backbone.feature_dim}-d features on {backbone.grid[0]}x{backbone.grid[1]}"
        )
    relative = f"policies/adanat-T{meta['steps']}.safetensors"
    policy_file = Path(policy_file)
    files = {relative: policy_file}
    if policy_file.with_suffix(".json").is_file():
        files[relative.replace(".safetensors", ".json")] = policy_file.with_suffix(".json")
    updates = {"schedules": {"adanat": {str(meta["steps"]): {"policy": relative}}}}
    if recommend:
        updates["recommended"] = {"scheduler": "adanat", "steps": meta["steps"], "scheduler_config": {}}
    add_to_bundle(bundle_path, files, updates)
    return Path(bundle_path) / relative


def ship_schedule(bundle_path: str | Path, schedule_file: str | Path) -> Path:
    """Copy an AutoNAT schedule file into the bundle as ``autonat``'s default at its number of steps."""
    read_bundle_config(bundle_path)  # not a bundle: fails here, before anything is written
    schedule = Schedule.load(schedule_file)
    relative = f"schedules/autonat-T{schedule.steps}.json"
    add_to_bundle(bundle_path, {relative: Path(schedule_file)},
                  {"schedules": {"autonat": {str(schedule.steps): {"file": relative}}}})
    return Path(bundle_path) / relative


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m adanat_cli.policy.ship BUNDLE POLICY.safetensors|SCHEDULE.json", file=sys.stderr)
        return 2
    from ..cli.errors import run_script

    ship = ship_schedule if args[1].endswith(".json") else ship_policy
    return run_script(lambda: ship(args[0], args[1]))


if __name__ == "__main__":
    sys.exit(main())
