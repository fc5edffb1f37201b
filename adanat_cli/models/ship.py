"""Shipping a trained policy or a searched schedule inside a model bundle, as the default of
``--scheduler adanat`` / ``--scheduler autonat`` at its T (the ``adanat ship`` command).

A policy is copied to ``BUNDLE/policies/adanat-T<steps>.safetensors`` (with its ``.json``) and
registered in config.json under ``"schedules": {"adanat": {"<steps>": {"policy": ...}}}``, with the
run's settings as the model's training recipe for that T when the policy sits in a run folder; a schedule
goes to ``BUNDLE/schedules/autonat-T<steps>.json``, under ``"schedules": {"autonat": {"<steps>":
{"file": ...}}}``.

A policy reads only the backbone's features, so only the backbone is loaded (checked as
``load_bundle`` checks it): a text-to-image bundle's text encoder, possibly gigabytes in the Hugging
Face cache, is not needed to ship one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..architectures.base import Backbone
from ..errors import ConversionError, UsageError
from ..io import read_json_object
from ..registry import registry
from ..schedulers.adanat_files import load_policy, save_policy
from ..schedulers.autonat import Schedule
from ..text.base import build_from_safetensors, check_bundle_file
from .bundle import add_to_bundle, read_bundle_config
from .converters.policy import policy_from_official


def bundle_backbone(bundle_path: str | Path) -> tuple[str, Backbone]:
    """(model name, backbone) of a bundle, the backbone's file checked and assigned as ``load_bundle``
    does; the tokenizer and the text encoder are not loaded."""
    path = Path(bundle_path)
    config = read_bundle_config(path)
    spec = config["backbone"] if isinstance(config["backbone"], dict) else {}
    file = check_bundle_file(path, "backbone.safetensors", config.get("files", {}))
    cls = registry.get("backbones", spec.get("type", "?"))
    backbone = build_from_safetensors(cls, spec.get("config", {}), file, "cpu", bundle=path, what="backbone")
    return config.get("name") or path.name, backbone


def ship_policy(bundle_path: str | Path, policy_file: str | Path, recommend: bool = False) -> Path:
    """Copy the policy into the bundle; with ``recommend`` also make ``adanat`` at the policy's number
    of steps the bundle's recommended scheduler."""
    _, backbone = bundle_backbone(bundle_path)
    _, meta = load_policy(policy_file)
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
    recipe = training_recipe(policy_file, meta)
    if recipe is not None:
        updates["training_recipes"] = {str(meta["steps"]): recipe}
    # the old recommendation's settings belong to its scheduler: replaced whole, never merged
    replace = {"recommended": {"scheduler": "adanat", "steps": meta["steps"], "scheduler_config": {}}} if recommend else {}
    add_to_bundle(bundle_path, files, updates, replace=replace)
    return Path(bundle_path) / relative


def training_recipe(policy_file: Path, meta: dict) -> dict | None:
    """The settings that produced ``policy_file``: its run's settings.json, stopped at the update whose
    weights the file holds (so ``adanat train-policy`` with the recipe ends on this very policy)."""
    settings_file = policy_file.parent / "settings.json"
    if not settings_file.is_file():
        return None
    recipe = read_json_object(settings_file, "training settings", ConversionError)
    recipe.pop("model", None)  # which model the run trained for: not a setting
    reached = (meta.get("training") or {}).get("updates")
    if isinstance(reached, int) and reached > 0:
        recipe["updates"] = reached
    return recipe


def ship_schedule(bundle_path: str | Path, schedule_file: str | Path) -> Path:
    """Copy an AutoNAT schedule file into the bundle as ``autonat``'s default at its number of steps."""
    read_bundle_config(bundle_path)  # not a bundle: fails here, before anything is written
    schedule = Schedule.load(schedule_file)
    relative = f"schedules/autonat-T{schedule.steps}.json"
    add_to_bundle(bundle_path, {relative: Path(schedule_file)},
                  {"schedules": {"autonat": {str(schedule.steps): {"file": relative}}}})
    return Path(bundle_path) / relative


def ship_file(bundle_path: str | Path, file: str | Path, recommend: bool = False) -> Path:
    """Ship a policy (``*.safetensors``) or a schedule (``*.json``), by its suffix."""
    if str(file).endswith(".json"):
        if recommend:
            raise UsageError("--recommend applies to policies only (a schedule is used for --scheduler autonat)")
        return ship_schedule(bundle_path, file)
    return ship_policy(bundle_path, file, recommend=recommend)


def add_official_policy(bundle_path: str | Path, checkpoint: str | Path, recommend: bool = True) -> Path:
    """Convert an official AdaNAT policy checkpoint and ship it in a bundle, as its recommendation
    unless ``recommend`` is False (then it is the default of ``--scheduler adanat`` at its T only)."""
    name, backbone = bundle_backbone(bundle_path)
    actor, meta = policy_from_official(checkpoint, grid=backbone.grid)
    meta["model"] = name
    with tempfile.TemporaryDirectory() as tmp:
        return ship_policy(bundle_path, save_policy(Path(tmp) / "policy.safetensors", actor, meta), recommend=recommend)
