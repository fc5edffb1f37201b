"""Average the weights of several AdaNAT policies fine-tuned from one starting point (a "model soup").

    python scripts/average_policies.py OUT.safetensors POLICY.safetensors POLICY.safetensors [...] [--note TEXT]

Every policy must be an adaptive policy for the same model and number of steps, with the same network
apart from the prompt projection. If any member reads the prompt (``prompt_dim`` > 0), the average does
too, and members without the projection count as ones whose projection is zero: that is how a
prompt-aware fine-tune starts, so such a member behaves exactly as it would with a zero projection.
Averaging is only meaningful for policies that share their starting weights (docs/text-to-image.md).
The output is written atomically and never replaces an existing file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from adanat_cli.errors import UsageError
from adanat_cli.schedulers.adanat_files import load_policy, save_policy
from adanat_cli.schedulers.adanat_network import PolicyNet

MUST_AGREE = ("model", "steps", "residual", "feature_dim", "grid")


def average_policies(paths: list[Path], note: str | None = None) -> tuple[PolicyNet, dict]:
    if len(paths) < 2:
        raise UsageError("give at least two policies to average")
    loaded = [load_policy(path) for path in paths]
    first_meta = loaded[0][1]
    prompt_dim = max(meta["network"].get("prompt_dim", 0) for _, meta in loaded)
    for path, (actor, meta) in zip(paths, loaded):
        if meta["kind"] != "adaptive":
            raise UsageError(f"{path} is a static policy; only adaptive policies can be averaged")
        for key in MUST_AGREE:
            if meta.get(key) != first_meta.get(key):
                raise UsageError(f"{path} has {key}={meta.get(key)!r}, {paths[0]} has {first_meta.get(key)!r}")
        network = {k: v for k, v in meta["network"].items() if k != "prompt_dim"}
        if network != {k: v for k, v in first_meta["network"].items() if k != "prompt_dim"}:
            raise UsageError(f"{path} has a different network from {paths[0]}")
        if meta["network"].get("prompt_dim", 0) not in (0, prompt_dim):
            raise UsageError(f"{path} reads a prompt of another width ({meta['network']['prompt_dim']} vs {prompt_dim})")

    soup = PolicyNet(**{**first_meta["network"], "prompt_dim": prompt_dim})
    target = soup.state_dict()
    sums = {name: torch.zeros_like(value) for name, value in target.items()}
    for actor, _ in loaded:
        for name, value in actor.state_dict().items():
            sums[name] += value
        # members without the prompt projection add its starting value, zero, so nothing
    soup.load_state_dict({name: total / len(loaded) for name, total in sums.items()})
    meta = {key: first_meta[key] for key in MUST_AGREE}
    meta["training"] = {"average_of": [str(path) for path in paths]}
    if note:
        meta["training"]["note"] = note
    return soup.eval(), meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the averaged policy to write (must not exist)")
    parser.add_argument("policies", type=Path, nargs="+", help="two or more policy files")
    parser.add_argument("--note", help="how the members were made, kept in the output's metadata")
    args = parser.parse_args(argv)
    try:
        if args.out.exists():
            raise UsageError(f"{args.out} already exists; choose another name")
        soup, meta = average_policies(args.policies, args.note)
        save_policy(args.out, soup, meta)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} (average of {len(args.policies)} policies)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
