"""``adanat train-policy``: learn an AdaNAT policy with PPO against a reward model."""

from __future__ import annotations

from pathlib import Path

import typer

from ..data.training_images import load_real_images
from ..engine.distributed import Shard
from ..errors import UsageError
from ..models.resolve import load_model
from ..registry import registry
from ..schedulers.build import parse_scheduler_args
from ..settings import default_model
from ..training.ppo import PolicyTrainer, TrainSettings, prepare_out
from .devices import pick_device
from .progress import step_progress


def train_policy_command(
    out: Path = typer.Option(..., "--out", "-o", help="Run folder: checkpoint.pt, train.jsonl, best/policy.safetensors."),
    model: str = typer.Option(None, "--model", "-m", help="A model name (built-in, downloaded or imported) or a bundle folder; default: $ADANAT_MODEL, else `adanat config` model, else tiny-mnist.", show_default=False),
    steps: int = typer.Option(8, "--steps", "-T", help="Decoding steps the policy is for."),
    updates: int = typer.Option(100, "--updates", "-u", help="PPO updates."),
    trajectories: int = typer.Option(4096, "--trajectories", help="Generations per update (over all processes)."),
    batch_size: int = typer.Option(128, "--batch-size", "-b", help="Generations per forward batch."),
    lr: float = typer.Option(1e-5, "--lr", help="Adam learning rate of actor and critic."),
    epochs: int = typer.Option(5, "--epochs", help="PPO epochs per update."),
    action_std: float = typer.Option(0.6, "--action-std", help="Initial std of the Gaussian actions."),
    std_milestones: str = typer.Option("500", "--std-milestones", help="Updates after which the std drops by --std-decay (comma list)."),
    std_decay: float = typer.Option(0.3, "--std-decay"),
    min_std: float = typer.Option(0.1, "--min-std"),
    reward: str = typer.Option("adversarial", "--reward", "-r", help="Reward plugin: adversarial, fid, classifier (see `adanat plugins`)."),
    reward_arg: list[str] = typer.Option([], "--reward-arg", help="key=value option of the reward (e.g. d_steps=5)."),
    network_arg: list[str] = typer.Option([], "--network-arg", help="Policy size: hidden=, pointwise=, fc1=, fc2= (defaults: the paper's)."),
    static: bool = typer.Option(False, "--static", help="Learn one per-step plan shared by all samples (the non-adaptive ablation)."),
    residual: bool = typer.Option(True, "--residual/--no-residual", help="Add the handcrafted baseline to the actions."),
    data: str = typer.Option(None, "--data", help="Real images: mnist5k or an image folder with class subfolders (default: the model's)."),
    eval_every: int = typer.Option(10, "--eval-every", help="Evaluate FID every N updates (0: never)."),
    eval_num: int = typer.Option(500, "--eval-num", help="Images per evaluation."),
    checkpoint_every: int = typer.Option(5, "--checkpoint-every", help="Write checkpoint.pt every N updates."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete an existing run in --out and start afresh."),
) -> None:
    """Train a per-sample, per-step generation policy (AdaNAT) with PPO.

    Trajectories are generated with actions sampled around the policy's mean; the reward scores the
    final images (default: a discriminator trained alongside). Runs on CPU, one GPU, or several
    processes (`torchrun --nproc_per_node N -m adanat_cli train-policy …`). The result,
    OUT/policy.safetensors (and OUT/best.safetensors, best evaluation FID), is used with
    `adanat sample --scheduler adanat --scheduler-arg policy=OUT/best.safetensors`.
    """
    for name, value in (("--updates", updates), ("--trajectories", trajectories), ("--batch-size", batch_size),
                        ("--epochs", epochs), ("--checkpoint-every", checkpoint_every)):
        if value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    if eval_every < 0 or eval_num < 2:
        raise UsageError("--eval-every must be ≥ 0 and --eval-num ≥ 2")
    if not (lr > 0 and action_std > 0 and min_std > 0):
        raise UsageError("--lr, --action-std and --min-std must be positive")
    try:
        milestones = [int(m) for m in std_milestones.split(",") if m.strip()]
    except ValueError:
        raise UsageError(f"--std-milestones takes a comma list of integers, got '{std_milestones}'") from None
    registry.get("rewards", reward)  # unknown reward: fail before loading anything
    shard = Shard(cpu=device == "cpu")
    torch_device = pick_device(device)
    bundle = load_model(model or default_model(), device=torch_device)
    if not 2 <= steps <= bundle.backbone.num_tokens:
        raise UsageError(f"--steps must be between 2 and the number of tokens ({bundle.backbone.num_tokens})")
    source = data or bundle.evaluation.get("real")
    if source is None:
        raise UsageError("no real images: pass --data (mnist5k or an image folder)")
    images, labels = load_real_images(source, bundle.backbone.num_classes, bundle.image_size)
    settings = TrainSettings(
        steps=steps, updates=updates, trajectories=trajectories, batch_size=batch_size, lr=lr, epochs=epochs,
        action_std=action_std, std_milestones=milestones, std_decay=std_decay, min_std=min_std, residual=residual,
        static=static, reward=reward, reward_options=parse_scheduler_args(reward_arg),
        network={k: int(v) for k, v in parse_scheduler_args(network_arg).items()}, seed=seed,
        eval_every=eval_every, eval_num=eval_num, checkpoint_every=checkpoint_every,
    )
    if shard.is_main:
        prepare_out(out, resume, overwrite)
    shard.wait()
    try:
        trainer = PolicyTrainer(bundle, settings, images, labels, out, torch_device, shard)
    except TypeError as err:
        raise UsageError(f"bad --reward-arg or --network-arg: {err}") from None
    if resume:
        trainer.load_checkpoint()
    with step_progress(f"training a T={steps} policy", total=updates) as advance:
        for _ in range(trainer.update):
            advance()

        def report(record: dict) -> None:
            advance()
            if shard.is_main:
                d_acc = f" D acc {record['d_acc']:.3f}" if "d_acc" in record else ""
                extra = f" eval FID {record['eval_fid']:.3f}" if "eval_fid" in record else ""
                typer.echo(f"update {record['update']}: reward {record['reward_mean']:.4f}{d_acc}"
                           f" std {record['action_std']:.2f}{extra}", err=True)

        trainer.run(on_update=report)
    if shard.is_main:
        typer.echo(str(out / "policy.safetensors"))


def register(app: typer.Typer) -> None:
    app.command("train-policy")(train_policy_command)
