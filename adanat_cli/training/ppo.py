"""PPO training of an AdaNAT policy (REFERENCE §2), on one or several processes.

One update: collect ``trajectories`` generations with actions sampled around the actor's mean (std
fixed, decayed at milestones); score the final images with the reward model (γ = 1, so every step's
return is the final reward); normalise returns over all processes; ``epochs`` full-batch passes of
loss = −min(r·A, clip(r, 1±ε)·A) + 0.5·MSE(V, R) − 0.01·H with A = R − V_old; then let the reward
model learn (the discriminator's 5 steps). All randomness is derived from (seed, update, sample
index), so a resumed run continues exactly and results do not depend on the batch size.

A text-conditioned model trains on captions (``captions``): each update draws one per trajectory,
seeded like the classes of a class-conditional model; the reward reads the prompts' pooled text
embeddings (``RewardModel.labels_for_prompts``), and the real images come with true captions
(``data.real_captions``). The run keeps its captions in ``captions.txt`` and their digest in the
checkpoint, so a resumed run goes on with the same ones.

The networks train through an ``accelerate.Accelerator`` (``engine.distributed.make_accelerator``):
it averages gradients over the processes of ``torchrun`` / ``accelerate launch`` (DDP), and runs the
PPO update's and the discriminator's forwards in the run's ``precision`` (mixed precision). Rollouts
and evaluations take the engine's fast path (``precision``, ``compile``) for the backbone.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..engine.conditioning import is_text_model
from ..engine.distributed import Shard, make_accelerator
from ..engine.precision import resolve_precision
from ..engine.sampling import compiled_parts, generate_images
from ..errors import OutputExistsError, UsageError
from ..evaluation.captions import caption_thresholds, captions_digest
from ..evaluation.pairs import PairResult, comparison_labels, evaluate_pair
from ..evaluation.setup import evaluation_setup
from ..io import write_text_atomic, write_with_atomic
from ..metrics.digit_classifier import load_classifier
from ..metrics.extractors import FeatureExtractor
from ..metrics.fid import FeatureSet
from ..models.bundle import ModelBundle
from ..registry import registry
from ..schedulers.adanat import AdaNATScheduler
from ..schedulers.adanat_files import load_policy, save_policy
from ..schedulers.adanat_network import PolicyNet, StaticTable, reads_prompt
from .rewards import RewardContext, RewardModel
from .rollout import ExploringPolicy

CHECKPOINT_FORMAT = "adanat-policy-training"
EVAL_SEED = 999  # evaluation images during training; keep apart from reported evaluations (seed 0)
CAPTIONS_FILE = "captions.txt"  # a text model's run keeps the captions it trains on


@dataclass
class TrainSettings:
    steps: int = 8
    updates: int = 100
    trajectories: int = 4096
    batch_size: int = 128
    lr: float = 1e-5
    epochs: int = 5
    clip: float = 0.2
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    action_std: float = 0.6
    std_decay: float = 0.3
    std_milestones: list[int] = field(default_factory=lambda: [500])
    min_std: float = 0.1
    residual: bool = True
    static: bool = False
    reward: str = "adversarial"
    reward_options: dict[str, Any] = field(default_factory=dict)
    network: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    eval_every: int = 10
    eval_num: int = 500
    checkpoint_every: int = 5
    chunk: int = 1024
    # how the numbers are computed, not what: the backbone's (rollouts, evaluation) and the PPO
    # update's and discriminator's mixed precision (auto is made concrete when a run starts, so a
    # resumed run keeps what it ran with), and torch.compile of the backbone
    precision: str = "auto"
    compile: bool = False
    # a policy file whose actor weights the run starts from (fine-tuning); the critic and the reward's
    # networks start afresh
    init_policy: str | None = None
    # text models: the policy (and critic) also read each prompt's pooled text embedding (an extension;
    # the official policy reads only the NAT's features and the step)
    prompt_aware: bool = False
    # text models: what the policy's guidance pushes away from (``schedulers.guidance_target``); the
    # policy file records it, so sampling with the policy uses it by default
    negative_prompt: str = ""
    negative_share: float = 1.0
    negative_guidance: float = 0.0

    def std_at(self, update: int) -> float:
        reductions = sum(update >= m for m in self.std_milestones)
        return max(self.action_std - reductions * self.std_decay, self.min_std)


class ActorCritic(nn.Module):
    def __init__(self, actor: nn.Module, critic: nn.Module):
        super().__init__()
        self.actor, self.critic = actor, critic

    def forward(self, features: torch.Tensor, step: torch.Tensor,
                prompt: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.actor(features, step, prompt), self.critic(features, step, prompt).squeeze(-1)


def gaussian_log_prob(actions: torch.Tensor, mean: torch.Tensor, std: float) -> torch.Tensor:
    """log N(actions; mean, std² I), summed over the action dimensions -> (B,)."""
    return (-((actions - mean) ** 2) / (2 * std**2) - math.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)


def gaussian_entropy(dim: int, std: float) -> float:
    return dim * (0.5 + 0.5 * math.log(2 * math.pi) + math.log(std))


def depthwise_convs_in_fp32(model: nn.Module) -> None:
    """Run ``model``'s depthwise convolutions outside autocast, in float32.

    On a CPU, oneDNN's bf16 backward of a depthwise convolution is about 3.5x slower than float32
    (the policy network's 3x3 one, 1,024 samples: 0.22 s against 0.064 s, one thread), which made
    a bf16 PPO update 2.4x slower than an fp32 one instead of 1.2x faster. Weights and state_dict
    are untouched."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d) and module.groups > 1:
            module.forward = _Float32Forward(module.forward)


class _Float32Forward:
    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.forward = forward

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return self.forward(x.float())


def _start_from(actor: nn.Module, settings: TrainSettings) -> None:
    """Load ``settings.init_policy``'s actor weights into ``actor``; a policy made for another number
    of steps, kind or network size is one UsageError. A policy that does not read the prompt may start
    a prompt-aware one: its prompt projection starts at zero, so the two act alike at first."""
    path = settings.init_policy
    start, meta = load_policy(path)
    if meta.get("steps") != settings.steps or meta.get("residual") != settings.residual:
        raise UsageError(f"--init-policy {path} was trained for T={meta.get('steps')} (residual {meta.get('residual')}); "
                         f"this run is T={settings.steps} (residual {settings.residual})")
    config, wanted = dict(getattr(start, "config", None) or {}), dict(getattr(actor, "config", None) or {})
    widening = not reads_prompt(start) and reads_prompt(actor)
    if widening:
        config.pop("prompt_dim", None)
        wanted.pop("prompt_dim", None)
    if type(start) is not type(actor) or config != wanted:
        raise UsageError(f"--init-policy {path} has the network {meta.get('network')}; this run's is "
                         f"{getattr(actor, 'config', None)}: pass the same --network-arg values (and --prompt-aware "
                         "only with a policy that has it or not at all), or --static")
    missing, unexpected = actor.load_state_dict(start.state_dict(), strict=not widening)
    assert not unexpected and all(k.startswith("prompt_embedder.") for k in missing), (missing, unexpected)


def check_prompt_aware(bundle: ModelBundle) -> None:
    """``--prompt-aware`` reads pooled text embeddings: a class-conditional model is one UsageError."""
    if not is_text_model(bundle.backbone):
        raise UsageError(f"--prompt-aware is for text-conditioned models; {bundle.name} is conditioned on classes")


def _update_seed(seed: int, update: int, salt: int) -> int:
    return int(np.random.SeedSequence([seed, update, salt]).generate_state(1)[0])


class PolicyTrainer:
    def __init__(
        self,
        bundle: ModelBundle,
        settings: TrainSettings,
        real_images: torch.Tensor,
        real_labels: torch.Tensor,
        out: Path,
        device: torch.device,
        shard: Shard | None = None,
        captions: list[str] | None = None,
        real_captions: list[str] | None = None,
        resuming: bool = False,
    ) -> None:
        """``real_labels`` are the real images' classes; for a text-conditioned model pass
        ``captions`` (what rollouts and evaluations are conditioned on) and ``real_captions`` (one true
        caption per real image) instead, and ``real_labels`` is ignored."""
        settings = replace(settings, precision=resolve_precision(settings.precision, device))
        self.bundle, self.settings, self.out, self.device = bundle, settings, Path(out), device
        self.shard = shard or Shard()
        self.text = is_text_model(bundle.backbone)
        if self.text:
            if not captions:
                raise UsageError(f"model '{bundle.name}' is text-conditioned: training needs captions (--captions)")
            if real_captions is None or len(real_captions) != len(real_images):
                raise UsageError(f"model '{bundle.name}' is text-conditioned: its real images need one caption each")
            real_labels = self.pooled(list(real_captions))
        elif captions is not None:
            raise UsageError(f"--captions: model '{bundle.name}' is class-conditional; captions are for "
                             "text-conditioned models")
        self.captions = list(captions) if self.text else None
        batches = math.ceil(settings.trajectories / settings.batch_size)
        if batches < self.shard.num_processes:  # a process without trajectories would wait forever in the update
            raise UsageError(f"{settings.trajectories} trajectories in batches of {settings.batch_size} are {batches} "
                             f"batch(es) for {self.shard.num_processes} processes, each of which needs one; pass "
                             f"--batch-size {math.ceil(settings.trajectories / self.shard.num_processes)} or less")
        self.accelerator = make_accelerator(settings.precision, device)
        backbone = bundle.backbone
        torch.manual_seed(settings.seed)
        net = dict(settings.network)
        if settings.prompt_aware:
            check_prompt_aware(bundle)
            if settings.static:
                raise UsageError("--prompt-aware needs the adaptive policy network, not --static")
            net["prompt_dim"] = bundle.text_encoder.pooled_dim
        if settings.static:
            actor: nn.Module = StaticTable(settings.steps)
        else:
            actor = PolicyNet(backbone.feature_dim, backbone.grid, out_dim=4, **net)
        critic = PolicyNet(backbone.feature_dim, backbone.grid, out_dim=1, **net)
        if settings.init_policy is not None and not resuming:  # a resumed run's checkpoint has the weights
            _start_from(actor, settings)
        self.model = ActorCritic(actor, critic).to(device)
        if device.type == "cpu" and settings.precision == "bf16":
            depthwise_convs_in_fp32(self.model)
        # ``trained``: the model as the accelerator prepared it (DDP over several processes, its forward
        # in the mixed precision); ``model`` stays the plain module (rollouts, exports, checkpoints)
        self.trained, self.optimizer = self.accelerator.prepare(
            self.model, torch.optim.Adam(self.model.parameters(), lr=settings.lr))
        context = RewardContext(bundle, real_images, real_labels, device, settings.seed, bundle.evaluation,
                                real_captions=list(real_captions) if self.text else None)
        self.reward: RewardModel = registry.get("rewards", settings.reward)(context, **settings.reward_options)
        self.reward.prepare(self.accelerator)
        if self.captions is not None:
            self.reward.check_prompts(self.captions)
        self.update = 0
        self.best_fid = math.inf
        self.evaluator: tuple[FeatureExtractor, FeatureSet] | None = None
        self.last_evaluation: PairResult | None = None
        self.alignment_classifier: nn.Module | None = None  # a text model's, for caption alignment

    def pooled(self, prompts: list[str]) -> torch.Tensor:
        """The prompts' pooled text embeddings (B, P), float32 on the CPU (cached per prompt; each prompt
        is encoded on its own, so the numbers do not depend on what came before and a resumed run
        continues exactly)."""
        return self.bundle.prompts.pooled(prompts)

    def reward_labels(self, conditions: list) -> torch.Tensor:
        """What the reward reads for images made from ``conditions``: class ids as a (B,) tensor, or
        for a text model what ``labels_for_prompts`` makes of the prompts (default: pooled embeddings)."""
        if not self.text:
            return torch.tensor(conditions, dtype=torch.long)
        return self.reward.labels_for_prompts(list(conditions), self.pooled(list(conditions)))

    # -- rollouts -----------------------------------------------------------------------------------
    def collect(self, update: int, std: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list,
                                                        torch.Tensor | None]:
        """This process's share of one update's trajectories: features (M,T,N,D), actions (M,T,4),
        images (M,3,H,W) in [0,1], the M conditions (class ids, or a text model's captions), and for
        a prompt-aware policy the prompts' pooled embeddings (M,P) it read (else None)."""
        s = self.settings
        count = s.trajectories
        label_rng = np.random.default_rng(_update_seed(s.seed, update, 1))
        if self.captions is not None:  # drawn like the classes: the same in every process
            labels: list = [self.captions[i] for i in label_rng.integers(0, len(self.captions), count).tolist()]
        else:
            labels = label_rng.integers(0, self.bundle.backbone.num_classes, count).tolist()
        base_seed = _update_seed(s.seed, update, 2)
        batches = [(lo, min(lo + s.batch_size, count)) for lo in range(0, count, s.batch_size)]
        scheduler = ExploringPolicy(self.model.actor, std, s.residual)
        scheduler.negative_prompt, scheduler.negative_share = s.negative_prompt, s.negative_share
        scheduler.negative_guidance = s.negative_guidance
        features, actions, images, mine, prompts = [], [], [], [], []
        self.model.eval()
        for b in self.shard.my_batches(len(batches)):
            lo, hi = batches[b]
            samples = generate_images(self.bundle, scheduler, labels[lo:hi], s.steps, seed=base_seed,
                                      batch_size=hi - lo, indices=range(lo, hi), device=self.device,
                                      precision=s.precision, compile=s.compile)
            f, a = scheduler.trajectories()
            features.append(f.clone())  # clone: leave inference mode's tensors behind
            actions.append(a.clone())
            images.append(samples.images.clone())
            mine.extend(labels[lo:hi])
            if scheduler.prompts is not None:
                prompts.append(scheduler.prompts.clone())
        return (torch.cat(features), torch.cat(actions), torch.cat(images), mine,
                torch.cat(prompts) if prompts else None)

    # -- one PPO update -----------------------------------------------------------------------------
    def ppo_step(self, features: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor, std: float,
                 prompts: torch.Tensor | None = None) -> dict[str, float]:
        s = self.settings
        m, t = actions.shape[:2]
        feats = features.flatten(0, 1).to(self.device)  # (M*T, N, D)
        acts = actions.flatten(0, 1).to(self.device)  # (M*T, 4)
        steps = torch.arange(t, device=self.device).repeat(m)  # (M*T,)
        # a prompt-aware policy's prompts, one row per (trajectory, step) like feats; else None throughout
        cond = prompts.to(self.device).repeat_interleave(t, dim=0) if prompts is not None else None

        def rows(c: slice) -> torch.Tensor | None:
            return cond[c] if cond is not None else None

        returns = rewards.to(self.device).repeat_interleave(t)  # γ = 1: every step returns the final reward
        everyone = torch.tensor(self.shard.gather(rewards.tolist()), dtype=torch.float64)
        mean, spread = everyone.mean().item(), everyone.std().item() if len(everyone) > 1 else 0.0
        returns = (returns - mean) / (spread + 1e-7)
        chunks = [slice(i, min(i + s.chunk, len(acts))) for i in range(0, len(acts), s.chunk)]
        with torch.no_grad():
            old_mean, old_value = zip(*(self.model(feats[c], steps[c], rows(c)) for c in chunks))
            old_logp = gaussian_log_prob(acts, torch.cat(old_mean), std)
            advantages = returns - torch.cat(old_value)
        entropy = gaussian_entropy(acts.shape[1], std)
        self.model.train()
        total = len(acts)
        for _ in range(s.epochs):
            self.optimizer.zero_grad(set_to_none=True)
            for i, c in enumerate(chunks):
                last = i == len(chunks) - 1  # gradients are averaged over processes once, after the last chunk
                with contextlib.nullcontext() if last else self.accelerator.no_sync(self.trained):
                    new_mean, value = self.trained(feats[c], steps[c], rows(c))
                    ratio = torch.exp(gaussian_log_prob(acts[c], new_mean, std) - old_logp[c])
                    surrogate = torch.min(ratio * advantages[c], ratio.clamp(1 - s.clip, 1 + s.clip) * advantages[c])
                    loss = (-surrogate.sum() + s.value_coef * ((value - returns[c]) ** 2).sum()) / total
                    loss = loss - s.entropy_coef * entropy * (c.stop - c.start) / total
                    self.accelerator.backward(loss)
            self.optimizer.step()
        return {"reward_mean": mean, "reward_std": spread, "action_std": std, "ppo_loss": float(loss.item())}

    # -- evaluation, checkpoints, export -----------------------------------------------------------------
    def policy_meta(self) -> dict[str, Any]:
        b, s = self.bundle.backbone, self.settings
        return {"feature_dim": b.feature_dim, "grid": list(b.grid), "steps": s.steps, "residual": s.residual,
                "model": self.bundle.name,
                "training": {"updates": self.update, "reward": s.reward, "static": s.static, "seed": s.seed,
                             "trajectories_per_update": s.trajectories, "lr": s.lr, "best_eval_fid": self.best_fid},
                **({"guidance_target": self.guidance_target()} if s.negative_prompt else {})}

    def guidance_target(self) -> dict[str, Any]:
        s = self.settings
        target = {"negative_prompt": s.negative_prompt, "negative_share": s.negative_share}
        if s.negative_guidance:  # recorded only when set, so older policy files read the same
            target["negative_guidance"] = s.negative_guidance
        return target

    def export(self, path: Path) -> Path:
        return save_policy(path, self.model.actor, self.policy_meta())

    def evaluate(self) -> float:

        if self.evaluator is None:  # built once: the extractor and the real features do not change
            self.evaluator = evaluation_setup(self.bundle.evaluation, self.device)[1:]
        extractor, reference = self.evaluator
        candidate = self.out / "eval-candidate.safetensors"
        if self.shard.is_main:
            self.export(candidate)
        self.shard.wait()
        scheduler = AdaNATScheduler(policy=str(candidate))
        classifier, thresholds = None, None
        if self.text:  # the run's captions; their alignment is logged when the model can measure it
            labels = comparison_labels(self.captions, self.settings.eval_num)
            thresholds = caption_thresholds(self.bundle)
            if thresholds is not None and self.alignment_classifier is None:
                self.alignment_classifier = load_classifier(self.bundle.path, self.device)
            classifier = self.alignment_classifier
        else:
            labels = comparison_labels(list(range(self.bundle.backbone.num_classes)), self.settings.eval_num)
        result = evaluate_pair(self.bundle, scheduler, self.settings.steps, labels, EVAL_SEED,
                               self.settings.batch_size, extractor, reference, classifier, self.shard, self.device,
                               precision=self.settings.precision, compile=self.settings.compile,
                               caption_thresholds=thresholds)
        self.last_evaluation = result
        if result.fid < self.best_fid:
            self.best_fid = result.fid
            if self.shard.is_main:
                self.export(self.out / "best.safetensors")
        return result.fid

    def compile_seconds(self) -> float:
        """Seconds torch.compile has spent building the backbone's and the decoder's graphs so far
        (0 without --compile)."""
        if not self.settings.compile:
            return 0.0
        return sum(part.seconds for part in compiled_parts(self.bundle))

    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def save_checkpoint(self) -> None:
        if not self.shard.is_main:
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "update": self.update,
            "best_fid": self.best_fid,
            "settings": asdict(self.settings),
            "bundle": self.bundle.name,
            "model": self.accelerator.unwrap_model(self.trained).state_dict(),  # plain tensors: weights_only loads it
            "optimizer": self.optimizer.state_dict(),
            "reward": self.reward.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
        if self.captions is not None:
            state["captions_sha256"] = captions_digest(self.captions)
        if self.accelerator.scaler is not None:  # fp16's loss scale: a resumed run goes on with it
            state["grad_scaler"] = self.accelerator.scaler.state_dict()
        write_with_atomic(self.checkpoint_path(), lambda tmp: torch.save(sealed(state), tmp))

    def load_checkpoint(self) -> None:
        path = self.checkpoint_path()
        try:
            state = unsealed(torch.load(path, map_location="cpu", weights_only=True), self.device)
        except CorruptCheckpoint as err:
            raise UsageError(f"cannot resume from {path}: {err}; start the run afresh with --overwrite") from None
        except Exception as err:  # noqa: BLE001 - any unreadable checkpoint is one clear error
            raise UsageError(f"cannot resume from {path}: {type(err).__name__}: {err}") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise UsageError(f"{path} is not an adanat policy-training checkpoint")
        if not all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point()):
            raise UsageError(f"cannot resume from {path}: its networks hold non-finite weights (the run diverged); "
                             "start afresh with --overwrite and a lower --lr")
        trained_for = state.get("bundle")  # absent from checkpoints written before it was recorded
        if trained_for is not None and trained_for != self.bundle.name:
            raise UsageError(f"cannot resume: {path} trained a policy for model '{trained_for}', not "
                             f"'{self.bundle.name}'; resume without --model (or with --model {trained_for})")
        saved = TrainSettings(**state["settings"])
        for key in ("steps", "static", "residual", "reward", "seed", "trajectories", "network"):
            if getattr(saved, key) != getattr(self.settings, key):
                raise UsageError(f"cannot resume: {path} was trained with {key}={getattr(saved, key)!r}, "
                                 f"not {getattr(self.settings, key)!r}")
        trained_on = state.get("captions_sha256")
        ours = captions_digest(self.captions) if self.captions is not None else None
        if trained_on != ours:
            raise UsageError(f"cannot resume: {path} was trained on other captions than the {len(self.captions or [])} "
                             f"given (its own are in {self.out / CAPTIONS_FILE}); resume without --captions")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.reward.load_state_dict(state["reward"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if self.accelerator.scaler is not None and "grad_scaler" in state:
            self.accelerator.scaler.load_state_dict(state["grad_scaler"])
        self.update, self.best_fid = int(state["update"]), float(state["best_fid"])

    # -- the loop -------------------------------------------------------------------------------------
    def one_update(self) -> dict[str, Any]:
        """Rollouts, rewards, the PPO epochs and the reward's own learning for update ``self.update + 1``;
        its log record, with the wall time of each phase under ``phase_seconds``."""
        std = self.settings.std_at(self.update)
        clock = [time.perf_counter()]

        def lap() -> float:
            clock.append(time.perf_counter())
            return round(clock[-1] - clock[-2], 3)

        features, actions, images, conditions, prompts = self.collect(self.update, std)
        labels = self.reward_labels(conditions)
        rollout = lap()
        rewards = self.reward(images, labels).float().cpu()
        scoring = lap()
        record = {"update": self.update + 1, **self.ppo_step(features, actions, rewards, std, prompts)}
        ppo = lap()
        record.update(self.reward.update(images, labels, self.update))
        record["phase_seconds"] = {"rollout": rollout, "reward": scoring, "ppo": ppo, "reward_update": lap()}
        self.update += 1
        return record

    def run(self, on_update: Callable[[dict[str, Any]], None] | None = None,
            on_notice: Callable[[str], None] | None = None) -> dict[str, Any]:
        s = self.settings
        log_path = self.out / "train.jsonl"
        if self.shard.is_main:
            torn = _truncate_log(log_path, self.update)
            if torn and on_notice is not None:
                on_notice(f"{log_path}: dropped {torn} half-written line(s) left by an interrupted run")
            recorded = {k: v for k, v in asdict(s).items()
                        if not (k == "init_policy" and v is None) and not (k == "prompt_aware" and not v)
                        and not (k in ("negative_prompt", "negative_share") and not s.negative_prompt)
                        and not (k == "negative_guidance" and not v)}
            recorded["model"] = self.bundle.name  # an interrupted run (no policy.json yet) still names its model
            write_text_atomic(self.out / "settings.json", json.dumps(recorded, indent=2) + "\n")
            if self.captions is not None:
                write_text_atomic(self.out / CAPTIONS_FILE, "".join(c + "\n" for c in self.captions))
        record: dict[str, Any] = {}
        while self.update < s.updates:
            began, compiling = time.perf_counter(), self.compile_seconds()
            record = self.one_update()
            if s.eval_every and (self.update % s.eval_every == 0 or self.update == s.updates):
                clock = time.perf_counter()
                record["eval_fid"] = self.evaluate()
                record["best_eval_fid"] = self.best_fid
                measured = self.last_evaluation.alignment if self.last_evaluation is not None else None
                if measured is not None:
                    record["eval_class_agreement"] = measured["class_agreement"]
                    record["eval_attribute_agreement"] = measured["attribute_agreement"]
                record["phase_seconds"]["evaluation"] = round(time.perf_counter() - clock, 3)
            record["seconds"] = round(time.perf_counter() - began, 3)
            if s.compile:  # torch.compile's one-time cost, inside ``seconds``
                record["compile_seconds"] = round(self.compile_seconds() - compiling, 3)
            if self.shard.is_main:
                with open(log_path, "a", encoding="utf-8") as log:
                    log.write(json.dumps(record) + "\n")
            if self.update % s.checkpoint_every == 0 or self.update == s.updates:
                self.save_checkpoint()
            if on_update is not None:
                on_update(record)
        if self.shard.is_main:
            self.export(self.out / "policy.safetensors")
        self.shard.wait()
        return record


class CorruptCheckpoint(Exception):
    pass


def sealed(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` serialised, with the SHA-256 of the bytes: a checkpoint that verifies itself."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    return {"format": CHECKPOINT_FORMAT + "/sealed", "sha256": hashlib.sha256(payload).hexdigest(),
            "payload": torch.frombuffer(bytearray(payload), dtype=torch.uint8)}


def unsealed(outer: Any, device: torch.device | str) -> Any:
    """The state inside a sealed checkpoint, after checking its digest (an unsealed one as it is)."""
    if not (isinstance(outer, dict) and outer.get("format") == CHECKPOINT_FORMAT + "/sealed"):
        return outer  # written before checkpoints were sealed
    payload = outer["payload"].numpy().tobytes()
    if hashlib.sha256(payload).hexdigest() != outer.get("sha256"):
        raise CorruptCheckpoint("it is corrupt (its contents do not match their recorded SHA-256)")
    return torch.load(io.BytesIO(payload), map_location=device, weights_only=True)


def _truncate_log(path: Path, update: int) -> int:
    """Drop log lines of updates after ``update`` (written before a crash, then redone on resume) and
    lines a kill left half-written; returns how many torn lines were dropped."""
    if not path.exists():
        return 0
    kept, torn = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
            keep = record["update"] <= update
        except (ValueError, TypeError, KeyError):
            torn += 1
            continue
        if keep:
            kept.append(line)
    write_text_atomic(path, "".join(line + "\n" for line in kept))
    return torn


def prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder; a run needs a folder (--out)")
    if resume:
        if not (out / "checkpoint.pt").is_file():
            stopped = " (the run stopped before its first checkpoint)" if out.is_dir() and any(out.iterdir()) else ""
            raise UsageError(f"nothing to resume: {out / 'checkpoint.pt'} does not exist{stopped}; "
                             "start it afresh with --overwrite")
        return
    if out.exists() and any(out.iterdir()) and not overwrite:
        if not (out / "checkpoint.pt").is_file():
            raise OutputExistsError(f"{out} holds a run stopped before its first checkpoint; "
                                    "pass --overwrite to start it afresh")
        raise OutputExistsError(f"{out} already exists; pass --resume to continue it or --overwrite to start afresh")
    if out.exists() and overwrite:
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
