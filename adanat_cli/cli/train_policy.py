"""``adanat train-policy``: learn an AdaNAT policy with PPO against a reward model."""

from __future__ import annotations

import math
import shlex
from pathlib import Path

import torch
import typer

from ..data.real_captions import captioned_real_images
from ..data.training_images import load_real_images
from ..engine.conditioning import check_guidance_target, is_text_model
from ..engine.distributed import Shard, launch_defaults, mixed_precision
from ..engine.precision import PRECISIONS, resolve_precision
from ..errors import AdanatError, UsageError, note_batch_size
from ..evaluation.captions import resolve_captions
from ..models.resolve import load_model, resolve_model
from ..registry import registry
from ..schedulers.build import parse_scheduler_args
from ..settings import default_model
from ..text.prompt_files import read_prompt_file
from ..training.ppo import CAPTIONS_FILE, PolicyTrainer, check_prompt_aware, prepare_out
from ..training.recipes import (
    default_steps,
    latest_run_folder,
    next_run_folder,
    recipe_for,
    resolve_settings,
    saved_model,
    saved_settings,
)
from .devices import pick_device
from .progress import step_progress

RECIPE = "default: the model's recipe, else"


def parse_network_args(pairs: list[str]) -> dict[str, int]:
    """``--network-arg`` values: positive integers (layer sizes)."""
    sizes = {}
    for key, value in parse_scheduler_args(pairs).items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"--network-arg {key}={value}: a layer size must be a positive integer")
        sizes[key] = value
    return sizes


def train_policy_command(
    out: Path = typer.Option(None, "--out", "-o", help="Run folder (checkpoint.pt, train.jsonl, best.safetensors); default: a new runs/<model>-T<steps>-<n>, or with --resume the latest one.", show_default=False),
    model: str = typer.Option(None, "--model", "-m", help="A model name (built-in, downloaded or imported) or a bundle folder; default: $ADANAT_MODEL, else `adanat config` model, else tiny-mnist.", show_default=False),
    steps: int = typer.Option(None, "--steps", "-T", help="Decoding steps the policy is for; default: the model's recommended steps.", show_default=False),
    updates: int = typer.Option(None, "--updates", "-u", help=f"PPO updates ({RECIPE} 100).", show_default=False),
    trajectories: int = typer.Option(None, "--trajectories", help=f"Generations per update, over all processes ({RECIPE} 4096).", show_default=False),
    batch_size: int = typer.Option(None, "--batch-size", "-b", help=f"Generations per forward batch ({RECIPE} 128).", show_default=False),
    lr: float = typer.Option(None, "--lr", help=f"Adam learning rate of actor and critic ({RECIPE} 1e-5).", show_default=False),
    epochs: int = typer.Option(None, "--epochs", help=f"PPO epochs per update ({RECIPE} 5).", show_default=False),
    action_std: float = typer.Option(None, "--action-std", help=f"Initial std of the Gaussian actions ({RECIPE} 0.6).", show_default=False),
    std_milestones: str = typer.Option(None, "--std-milestones", help=f"Updates after which the std drops by --std-decay, comma list ({RECIPE} 500).", show_default=False),
    std_decay: float = typer.Option(None, "--std-decay", help=f"How much the std drops at each milestone ({RECIPE} 0.3).", show_default=False),
    min_std: float = typer.Option(None, "--min-std", help=f"Floor of the std ({RECIPE} 0.1).", show_default=False),
    reward: str = typer.Option(None, "--reward", "-r", help=f"Reward plugin: adversarial, fid, classifier; see `adanat plugins` ({RECIPE} adversarial).", show_default=False),
    reward_arg: list[str] = typer.Option([], "--reward-arg", help="key=value option of the reward (e.g. d_steps=5; class_weight=0.4: add 0.4 × the classifier's probability of the class; clip_weight=0.1, text models: add 0.1 × the CLIP score of image and prompt; caption_weight=0.4, text models with a caption grammar: add 0.4 × the fraction of the caption's statements the image satisfies)."),
    network_arg: list[str] = typer.Option([], "--network-arg", help="Policy size: hidden=, pointwise=, fc1=, fc2= (default: the model's recipe, else the paper's)."),
    static: bool = typer.Option(None, "--static/--adaptive", help="Learn one per-step plan shared by all samples (the non-adaptive ablation).", show_default=False),
    prompt_aware: bool = typer.Option(None, "--prompt-aware/--no-prompt-aware", help="Text-conditioned models: the policy also reads each prompt's pooled text embedding (an extension of the paper's policy, which reads only the NAT's features and the step). Default: a resumed run's, else off.", show_default=False),
    negative_prompt: str = typer.Option(None, "--negative-prompt", help="Text-conditioned models: what the policy's guidance pushes away from in place of the empty prompt; @subject: each prompt without its attribute words (tiny-mnist-text). The policy file records it and sampling uses it by default. Default: a resumed run's, else the empty prompt.", show_default=False),
    negative_share: float = typer.Option(None, "--negative-share", help="The share of the guidance taken against --negative-prompt, the rest against the empty prompt (0..1). Default: a resumed run's, else 1.", show_default=False),
    negative_guidance: float = typer.Option(None, "--negative-guidance", help="A fixed push away from --negative-prompt alone, added to the policy's own guidance (>= 0), so the push on what the negative prompt lacks never falls below it. Recorded in the policy file like the prompt. Default: a resumed run's, else 0.", show_default=False),
    residual: bool = typer.Option(None, "--residual/--no-residual", help="Add the handcrafted baseline to the actions (default: on).", show_default=False),
    data: str = typer.Option(None, "--data", help="Real images: mnist5k or an image folder with class subfolders (default: the model's). For a text-conditioned model they need true captions: a folder's captions.tsv (FILE<TAB>CAPTION a line), or the model's own captioner (tiny-mnist-text: the digits' attributes)."),
    captions: Path = typer.Option(None, "--captions", help="Text-conditioned models: a file of captions, one a line, that rollouts draw their prompts from (seeded) and evaluations cycle through. Default: a resumed run's own copy, else the model's evaluation captions.", show_default=False),
    eval_every: int = typer.Option(None, "--eval-every", help=f"Evaluate FID every N updates, 0 for never ({RECIPE} 10).", show_default=False),
    eval_num: int = typer.Option(None, "--eval-num", help=f"Images per evaluation ({RECIPE} 500).", show_default=False),
    checkpoint_every: int = typer.Option(None, "--checkpoint-every", help=f"Write checkpoint.pt every N updates ({RECIPE} 5).", show_default=False),
    seed: int = typer.Option(None, "--seed", help=f"Seed of the whole run ({RECIPE} 0).", show_default=False),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:N or auto."),
    precision: str = typer.Option(None, "--precision", help="auto (bf16 on a CUDA GPU that supports it, else fp32), fp32, bf16 or fp16 (CUDA only): the backbone's in rollouts and evaluations, and the mixed precision of the PPO update and the discriminator. Default: a resumed run's, else auto; recorded in settings.json.", show_default=False),
    compile: bool = typer.Option(None, "--compile/--no-compile", help="Compile the backbone with torch.compile for rollouts and evaluations (a one-time cost, logged as compile_seconds). Default: a resumed run's, else off.", show_default=False),
    init_policy: Path = typer.Option(None, "--init-policy", help="Start the policy from this policy file's weights (fine-tuning, e.g. a shipped policy with another reward); it must be for the same T and network size. The critic and the reward's discriminator start afresh. Recorded in settings.json.", show_default=False),
    resume: bool = typer.Option(False, "--resume", help="Continue a run from its checkpoint, with the settings it was started with."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete an existing run in --out and start afresh."),
) -> None:
    """Train a per-sample, per-step generation policy (AdaNAT) with PPO.

    Trajectories are generated with actions sampled around the policy's mean; the reward scores the
    final images (default: a discriminator trained alongside). A text-conditioned model trains on
    captions (--captions; default: its evaluation captions), and the discriminator reads each
    caption's pooled text embedding, with real images paired with their own true captions. With no
    options it trains a policy for the default model with the settings that trained the model's
    shipped policy (its recipe; the paper's settings for a model without one). Any option overrides. Runs on CPU, one GPU, or
    several processes (`torchrun` or `accelerate launch`), and faster with `--precision bf16
    --compile` (docs/policy.md). The result, OUT/best.safetensors (best evaluation FID), is used with
    `adanat sample --scheduler adanat --scheduler-arg policy=OUT/best.safetensors`.

    Examples:
      adanat train-policy                      # the default model's recipe at its recommended T
      adanat train-policy --resume             # continue the latest run
      adanat train-policy -m tiny-mnist-text --captions captions.txt --steps 4 --updates 20
    """
    given_ints = {"--updates": updates, "--trajectories": trajectories, "--batch-size": batch_size,
                  "--epochs": epochs, "--checkpoint-every": checkpoint_every}
    for name, value in given_ints.items():
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    if (eval_every is not None and eval_every < 0) or (eval_num is not None and eval_num < 2):
        raise UsageError("--eval-every must be ≥ 0 and --eval-num ≥ 2")
    if any(v is not None and not (v > 0 and math.isfinite(v)) for v in (lr, action_std, min_std)):
        raise UsageError("--lr, --action-std and --min-std must be positive finite numbers")
    if std_decay is not None and not (std_decay >= 0 and math.isfinite(std_decay)):
        raise UsageError(f"--std-decay must be a finite number ≥ 0, got {std_decay}")
    if seed is not None and seed < 0:
        raise UsageError(f"--seed must be ≥ 0, got {seed}")
    if not resume:  # a fresh run launched with `accelerate launch --mixed_precision bf16` is a bf16 run
        launched = launch_defaults()
        precision = launched["precision"] if precision is None else precision
        compile = launched["compile"] if compile is None else compile
    if precision is not None:
        precision = precision.strip().lower()
        if precision not in PRECISIONS:
            raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got '{precision}'")
    milestones = None
    if std_milestones is not None:
        try:
            milestones = [int(m) for m in std_milestones.split(",") if m.strip()]
        except ValueError:
            raise UsageError(f"--std-milestones takes a comma list of integers, got '{std_milestones}'") from None
    if reward is not None:
        registry.get("rewards", reward)  # unknown reward: fail before loading anything
    shard = Shard(cpu=device == "cpu")
    torch_device = pick_device(device)
    if torch_device.type == "cuda" and torch_device.index is None and shard.num_processes > 1:
        torch_device = torch.device("cuda", shard.local_index)  # one GPU per process, as DDP expects
    trained_for = saved_model(out) if model is None and resume and out is not None else None
    if trained_for is not None:
        model = trained_for  # a named run resumes on the model it trained for, not the default
        try:
            resolve_model(model)
        except AdanatError:
            raise UsageError(f"{out} trained a policy for model '{model}', which is not installed here: "
                             "pass --model (a name or the bundle folder)") from None
    bundle = load_model(model or default_model(), device=torch_device)
    text = is_text_model(bundle.backbone)
    if captions is not None and not text:
        resolve_captions(bundle, captions)  # one clear error: captions are for text-conditioned models
    if prompt_aware:
        check_prompt_aware(bundle)  # before the real images are loaded
    resumed = saved_settings(out) if resume and out is not None else None
    if steps is None and resumed:
        steps = resumed.get("steps")  # resuming a named run: its own T
    if steps is None:
        steps = default_steps(bundle.config, bundle.recommended.get("steps"))
    if not 2 <= steps <= bundle.backbone.num_tokens:
        raise UsageError(f"--steps must be between 2 and the number of tokens ({bundle.backbone.num_tokens})")
    if out is None:
        root = Path("runs")
        out = latest_run_folder(root, bundle.name, steps) if resume else next_run_folder(root, bundle.name, steps)
        if out is None:
            raise UsageError(f"nothing to resume: no {root}/{bundle.name}-T{steps}-<n> run folder; pass --out")
        out = Path(shard.gather([str(out)])[0])  # every process uses the main process's choice
        resumed = saved_settings(out) if resume else None
    given = {
        "updates": updates, "trajectories": trajectories, "batch_size": batch_size, "lr": lr, "epochs": epochs,
        "action_std": action_std, "std_milestones": milestones, "std_decay": std_decay, "min_std": min_std,
        "residual": residual, "static": static, "reward": reward, "seed": seed, "eval_every": eval_every,
        "eval_num": eval_num, "checkpoint_every": checkpoint_every,
        "reward_options": parse_scheduler_args(reward_arg) if reward_arg else None,
        "network": parse_network_args(network_arg) if network_arg else None,
        "precision": precision, "compile": compile,
        "init_policy": str(init_policy) if init_policy is not None else None,
        "prompt_aware": prompt_aware,
        "negative_prompt": negative_prompt, "negative_share": negative_share,
        "negative_guidance": negative_guidance,
    }
    settings, source = resolve_settings(steps, recipe_for(bundle.config, steps), resumed, given)
    # a negative prompt this model cannot take: refused now
    check_guidance_target(bundle, settings.negative_prompt, settings.negative_share, settings.negative_guidance)
    mixed_precision(resolve_precision(settings.precision, torch_device), torch_device)  # fp16 on a CPU: refused now
    note_batch_size(settings.batch_size)
    registry.get("rewards", settings.reward)
    source_images = data or bundle.evaluation.get("real")
    if source_images is None:
        raise UsageError("no real images: pass --data (mnist5k or an image folder)")
    prompts, real_captions, caption_source = None, None, None
    if text:
        own = out / CAPTIONS_FILE
        if resume and captions is None and own.is_file():
            caption_source, prompts = str(own), read_prompt_file(own, "the run's captions")
        else:
            caption_source, prompts = resolve_captions(bundle, captions)
        images, real_captions, how = captioned_real_images(source_images, bundle.config, bundle.image_size,
                                                           settings.seed)
        labels = torch.zeros(len(images), dtype=torch.long)  # unused: the real captions condition them
    else:
        images, labels = load_real_images(source_images, bundle.backbone.num_classes, bundle.image_size)
    try:  # built before the run folder is touched: a bad setting leaves nothing behind
        trainer = PolicyTrainer(bundle, settings, images, labels, out, torch_device, shard,
                                captions=prompts, real_captions=real_captions, resuming=resume)
    except TypeError as err:
        raise UsageError(f"bad --reward-arg or --network-arg: {err}") from None
    if shard.is_main:
        prepare_out(out, resume, overwrite)
    shard.wait()
    if resume:
        trainer.load_checkpoint()
    if shard.is_main:
        real_how = how if text else None
        how = trainer.settings.precision + (", compiled" if trainer.settings.compile else "")
        typer.echo(f"training a T={steps} policy for {bundle.name} into {out} ({settings.updates} updates × "
                   f"{settings.trajectories} trajectories, {how}; defaults: {source})", err=True)
        if text:
            typer.echo(f"prompts: {len(prompts)} captions of {caption_source}; real images: {real_how}", err=True)
    with step_progress(f"training a T={steps} policy", total=settings.updates) as advance:
        for _ in range(trainer.update):
            advance()

        def report(record: dict) -> None:
            advance()
            if shard.is_main:
                d_acc = f" D acc {record['d_acc']:.3f}" if "d_acc" in record else ""
                extra = f" eval FID {record['eval_fid']:.3f}" if "eval_fid" in record else ""
                typer.echo(f"update {record['update']}: reward {record['reward_mean']:.4f}{d_acc}"
                           f" std {record['action_std']:.2f}{extra}", err=True)

        trainer.run(on_update=report, on_notice=lambda message: typer.echo(message, err=True))
    if shard.is_main:
        typer.echo(str(out / "policy.safetensors"))
        best = out / "best.safetensors"
        policy = best if best.is_file() else out / "policy.safetensors"
        model_arg = shlex.quote(model) if model else shlex.quote(bundle.name)
        sample_what = f" --prompt {shlex.quote(prompts[0])}" if text else ""
        compare_what = f" --captions {shlex.quote(str(out / CAPTIONS_FILE))}" if text else ""
        typer.echo("next:\n"
                   f"  adanat sample -m {model_arg} --scheduler adanat --steps {steps} "
                   f"--scheduler-arg policy={shlex.quote(str(policy))}{sample_what}\n"
                   f"  adanat compare -m {model_arg} --schedulers cosine,adanat --steps {steps} "
                   f"-a adanat:policy={shlex.quote(str(policy))}{compare_what}", err=True)


def register(app: typer.Typer) -> None:
    app.command("train-policy")(train_policy_command)
