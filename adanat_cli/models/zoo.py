"""The model zoo: public pretrained checkpoints by name, where they live and how to turn them into bundles.

An entry records only what cannot be read from the files themselves: where each file lives (a Hugging
Face repo id, path and revision, or a Google Drive page for files that are not on the Hub), the number
of attention heads (invisible in weight shapes), the importer format, the recommended sampling
settings in *our* conventions, licence and citation. Architecture sizes (width, depth, grid, codebook,
classes) are inferred from the tensor shapes when the files are converted (``models.formats``).

Sizes and checksums are recorded only where they are known exactly; ``None`` means "not recorded",
never a guess. ``approx_size`` is the size a source states, for display only.

``register_entry`` / ``unregister_entry`` are the hook for adding entries at run time (plugins, or a
test registering a scaled-down variant); the built-in entries are plain data in ``BUILTIN_ENTRIES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFoundError
from ..registry import unknown_name_message

MAGE_VQGAN_URL = "https://drive.google.com/file/d/13S_unB87n6KKuuMdyMnyExW0G1kplTbP/view"  # MAGE/AdaNAT/MUSE READMEs
NAT_L_URL = "https://drive.google.com/file/d/12NN62Vg1DiOd-3sWkEnBQRIBBbuiVkNl/view"  # AdaNAT README "pre-trained NAT model"
ADANAT_POLICY_URL = "https://drive.google.com/file/d/1fjHFZUUnEdKptojayW4S1Vr78uwLPr5c/view"  # AdaNAT README
CC3M_POLICY_URL = "https://drive.google.com/file/d/1WZ9HxoTifIHhujcgMdBuGt6fwHBDnhG4/view"  # AdaNAT README, CC3M


@dataclass(frozen=True)
class ZooFile:
    """One file of an entry. ``repo_id`` set: on the Hub at ``filename``; else at ``url`` (a Google Drive
    link is downloaded with gdown; without a url the file is fetched by hand)."""

    role: str  # "nnet", "tokenizer", "tokenizer_config" (the importer's inputs), "policy" (shipped after) or
    # "fid_stats" (an .npz of reference statistics, registered as the entry's named statistics)
    filename: str  # path inside the Hub repo, or the file's usual local name
    repo_id: str | None = None
    revision: str = "main"
    size: int | None = None  # exact bytes, verified when known
    sha256: str | None = None  # verified when known
    url: str | None = None  # where to fetch a file that is not on the Hub
    approx_size: str | None = None  # as stated by the source, display only

    @property
    def on_hub(self) -> bool:
        return self.repo_id is not None


@dataclass(frozen=True)
class ZooTextEncoder:
    """A text-to-image entry's prompt encoder: a Hugging Face CLIP text model read by ``transformers``
    (the ``transformers-clip`` plugin). Its weights are not converted: the files that
    ``CLIPTextModelWithProjection`` and ``CLIPTokenizer`` read are fetched into the Hub cache and the
    bundle records the repo id and the commit it got (``models.hub_text``)."""

    repo_id: str
    revision: str = "main"
    projection_dim: int | None = None  # passed to from_pretrained, as the official code does


@dataclass(frozen=True)
class ZooEntry:
    name: str
    format: str  # importer format: maskgit, muse, autonat, adanat, enat
    description: str
    files: tuple[ZooFile, ...]
    tokenizer: str
    resolution: int
    num_classes: int
    num_heads: int | None  # None: not recorded; conversion then needs --heads
    recommended: dict[str, Any] = field(default_factory=dict)
    licence: str | None = None  # None: not recorded here, see the source
    citation: str = ""
    notes: str = ""
    text_encoder: ZooTextEncoder | None = None  # text-to-image entries only
    reference_stats: str | None = None  # the name the "fid_stats" file is registered under (inception features)
    recommend_policy: bool = True  # the shipped "policy" becomes the recommended scheduler (else: --scheduler adanat)

    def file(self, role: str) -> ZooFile | None:
        return next((f for f in self.files if f.role == role), None)

    @property
    def hub_files(self) -> list[ZooFile]:
        return [f for f in self.files if f.on_hub]

    @property
    def manual_files(self) -> list[ZooFile]:
        return [f for f in self.files if not f.on_hub]

    @property
    def source(self) -> str:
        repos = sorted({f.repo_id for f in self.hub_files} | ({self.text_encoder.repo_id} if self.text_encoder else set()))
        return ", ".join(f"hf:{r}" for r in repos) + (" + Google Drive" if self.manual_files else "") if repos else "Google Drive"


_MASKGIT_REPO = "llvictorll/Maskgit-pytorch"
_MASKGIT_CITE = ("Besnier & Chen, 'A Pytorch Reproduction of Masked Generative Image Transformer', arXiv:2310.14400; "
                 "Chang et al., 'MaskGIT: Masked Generative Image Transformer', CVPR 2022")
# MaskGIT-pytorch samples with arccos, CFG w=3 and Gumbel temperature 4.5 decaying linearly (REFERENCE §1, §4).
# Its softmax temperature multiplies the logits (1.0 by default): our divide convention gives 1/1.0 = 1.0.
# Its CFG is (1+w)·c − w·u = c + w(c−u), the same w as ours. The step count is not recorded in REFERENCE,
# so none is set and `adanat sample` falls back to its default.
_MASKGIT_RECOMMENDED = {"scheduler": "arccos",
                        "scheduler_config": {"sample_temp": 1.0, "remask_temp": 4.5, "guidance": 3.0}}
# Sizes and digests of the Hub files: the Git LFS pointers of llvictorll/Maskgit-pytorch commit
# d167345fb2f65d1c15f1eaafc97e8f9896129f9c ("initial models"). The 512 model was uploaded under another
# name and renamed; its digest is not confirmed for the renamed file, so it is not recorded.
_MASKGIT_VQGAN = (
    ZooFile("tokenizer", "pretrained_maskgit/VQGAN/last.ckpt", _MASKGIT_REPO, size=957954257,
            sha256="e38a3aed8c86e8d47436f611325b3a23888cab70a0cc56c13cd84e8d4aab6e71"),
    ZooFile("tokenizer_config", "pretrained_maskgit/VQGAN/model.yaml", _MASKGIT_REPO),
)
# Licences as the sources state them (code repository LICENSE / README, Hub licence tag); "not stated"
# means we found none, which is not permission.
_MASKGIT_LICENCE = ("MIT (code: valeoai/Maskgit-pytorch README; weights: MIT tag of the Hub repo); its VQGAN "
                    "comes from taming-transformers (code MIT, weights licence not stated)")
_MAGE_NOTE = "MAGE VQGAN: code MIT (LTH14/mage), weights licence not stated"
_MAGE_VQGAN = ZooFile("tokenizer", "vqgan_jax_strongaug.ckpt", url=MAGE_VQGAN_URL)
_DRIVE_NOTE = "Google Drive files, fetched with gdown (pip install 'adanat[drive]') or by hand (--file ROLE=PATH)."
_ADANAT_CITE = "Ni et al., 'AdaNAT: Exploring Adaptive Policy for Token-Based Image Generation', ECCV 2024"
_UVIT_CITE = ("Ni et al., 'Revisiting Non-Autoregressive Transformers for Efficient Image Synthesis' (AutoNAT), CVPR 2024")


BUILTIN_ENTRIES: tuple[ZooEntry, ...] = (
    ZooEntry(
        name="maskgit-imagenet256",
        format="maskgit",
        description="MaskGIT-pytorch (valeoai) ImageNet 256×256, class-conditional",
        files=(ZooFile("nnet", "pretrained_maskgit/MaskGIT/MaskGIT_ImageNet_256.pth", _MASKGIT_REPO,
                       size=2090306069,
                       sha256="74b38fa16c92da3db79f9aac3c9d0d2ef5cb6ea283c48908213f10d786304462"),
               *_MASKGIT_VQGAN),
        tokenizer="taming VQGAN f16, 1024 codes",
        resolution=256,
        num_classes=1000,
        num_heads=16,  # MaskGIT-pytorch README / Trainer/vit.py (see infer_maskgit_config)
        recommended=_MASKGIT_RECOMMENDED,
        licence=_MASKGIT_LICENCE,
        citation=_MASKGIT_CITE,
    ),
    ZooEntry(
        name="maskgit-imagenet512",
        format="maskgit",
        description="MaskGIT-pytorch (valeoai) ImageNet 512×512, class-conditional",
        files=(ZooFile("nnet", "pretrained_maskgit/MaskGIT/MaskGIT_ImageNet_512.pth", _MASKGIT_REPO,
                       approx_size="2.12 GB"),  # 2116055573 bytes as uploaded, before its rename
               *_MASKGIT_VQGAN),
        tokenizer="taming VQGAN f16, 1024 codes",
        resolution=512,
        num_classes=1000,
        num_heads=16,
        recommended=_MASKGIT_RECOMMENDED,
        licence=_MASKGIT_LICENCE,
        citation=_MASKGIT_CITE,
    ),
    ZooEntry(
        name="muse-imagenet256",
        format="muse",
        description="MUSE-Pytorch U-ViT-B (depth 13, width 768) ImageNet 256×256, FID 3.84 at 12 steps",
        # The MUSE README fetches the VQGAN from MAGE's Google Drive, not from the Hub repo.
        files=(ZooFile("nnet", "assets/ckpts/imagenet256-450000.ckpt/nnet_ema.pth", "nzl-thu/MUSE"),
               _MAGE_VQGAN),
        tokenizer="MAGE VQGAN f16, 1024 codes (vqgan_jax_strongaug.ckpt, Google Drive)",
        resolution=256,
        num_classes=1000,
        num_heads=None,  # not recorded in REFERENCE (MUSE configs/imagenet256_base_vq_jax.py has it): pass --heads
        # 12 steps: MUSE README / REFERENCE §4; Gumbel 4.5 decaying and guidance growing linearly in t/T
        # are the MUSE-style rules of REFERENCE §1. The guidance scale itself is not recorded here.
        recommended={"scheduler": "cosine", "steps": 12,
                     "scheduler_config": {"remask_temp": 4.5, "guidance_schedule": "linear"}},
        licence="not stated (the nzl-thu/MUSE Hub repo has no licence tag; MUSE-Pytorch names none); " + _MAGE_NOTE,
        citation="Chang et al., 'Muse: Text-To-Image Generation via Masked Generative Transformers', "
                 "arXiv:2301.00704; MUSE-Pytorch (nzl-thu)",
        notes="The VQGAN comes from MAGE's Google Drive (fetched with gdown); the heads are not recorded: "
              "`adanat download muse-imagenet256 --heads N`.",
    ),
    ZooEntry(
        name="autonat-L-imagenet256",
        format="autonat",
        description="AutoNAT-L U-ViT (768×24, 8 heads) ImageNet 256×256",
        files=(ZooFile("nnet", "nnet_ema.pth", url=NAT_L_URL), _MAGE_VQGAN),
        tokenizer="MAGE VQGAN f16, 1024 codes",
        resolution=256,
        num_classes=1000,
        num_heads=8,  # REFERENCE §4; ImprovedNAT configs/AutoNAT_L.yaml
        recommended={"scheduler": "autonat", "steps": 8},  # the searched T=8 policy, REFERENCE §1
        licence="code MIT (LeapLabTHU/ImprovedNAT); weights licence not stated; " + _MAGE_NOTE,
        citation=_UVIT_CITE,
        notes=_DRIVE_NOTE,
    ),
    ZooEntry(
        name="adanat-L-imagenet256",
        format="adanat",
        description="AdaNAT-L: the AutoNAT-L NAT with AdaNAT's learned policy, ImageNet 256×256",
        files=(ZooFile("nnet", "nnet_ema.pth", url=NAT_L_URL), _MAGE_VQGAN,
               ZooFile("policy", "adanat_policy.pth", url=ADANAT_POLICY_URL)),
        tokenizer="MAGE VQGAN f16, 1024 codes",
        resolution=256,
        num_classes=1000,
        num_heads=8,  # AdaNAT configs/imagenet_256_AdaNAT_L.yaml
        # without its policy the NAT runs AutoNAT's T=8 table; the shipped policy makes adanat the recommendation
        recommended={"scheduler": "autonat", "steps": 8},
        licence="not stated (LeapLabTHU/AdaNAT names none); " + _MAGE_NOTE,
        citation=_ADANAT_CITE,
        notes=_DRIVE_NOTE + " The learned policy is converted and becomes the recommended scheduler.",
    ),
    ZooEntry(
        name="enat-L-imagenet256",
        format="enat",
        description="ENAT-L ImageNet 256×256",
        files=(ZooFile("nnet", "nnet_ema.pth"), _MAGE_VQGAN),
        tokenizer="MAGE VQGAN f16, 1024 codes",
        resolution=256,
        num_classes=1000,
        num_heads=16,  # ENAT-L: width 1024, 16 heads (REFERENCE §3)
        # ENAT's sampler, REFERENCE §1: cosine, τ2 = 1.5(1−r), τ1 = max(6(1−r), 1e-3), w = 2.5·t/T, T = 8.
        recommended={"scheduler": "cosine", "steps": 8,
                     "scheduler_config": {"remask_temp": 1.5, "sample_temp": 6.0, "sample_temp_schedule": "linear",
                                          "guidance": 2.5, "guidance_schedule": "linear"}},
        licence="not stated (LeapLabTHU/ENAT names none); " + _MAGE_NOTE,
        citation="Ni et al., 'ENAT: Rethinking Spatial-temporal Interactions in Token-based Image Synthesis', "
                 "NeurIPS 2024",
        notes="Fetch nnet_ema.pth by hand from the Google Drive link in the ENAT README (LeapLabTHU/ENAT; "
              "the link is not recorded here). Imported with 22 encoder + 2 decoder blocks, as published for ENAT-L.",
    ),
    ZooEntry(
        name="adanat-cc3m",
        format="muse-t2i",
        description="AdaNAT on CC3M: MUSE's text-to-image U-ViT (1152×28, 16 heads), CLIP ViT-bigG/14 prompts, "
                    "with AdaNAT's learned policy (T=8), 256×256",
        files=(ZooFile("nnet", "assets/ckpts/cc3m-285000.ckpt/nnet_ema.pth", "nzl-thu/MUSE"),
               _MAGE_VQGAN,
               ZooFile("policy", "adanat_cc3m_policy.pth", url=CC3M_POLICY_URL),
               ZooFile("fid_stats", "assets/fid_stats/fid_stats_cc3m_val.npz", "nzl-thu/MUSE")),
        tokenizer="MAGE VQGAN f16, 1024 codes",
        resolution=256,
        num_classes=0,
        num_heads=16,  # AdaNAT configs/cc3m_AdaNAT_muse.yaml (REFERENCE §4b); sizes come from the shapes
        # MUSE's own CC3M sampling (cc3m_AdaNAT_muse.yaml `sample`/`muse`, REFERENCE §4b): cosine mask schedule,
        # 18 steps, gen_temp 4.5 decaying linearly (our remask_temp), guidance 10 growing linearly
        # (linear_inc_scale). The learned policy is shipped for --scheduler adanat at its T (8), not recommended.
        recommended={"scheduler": "cosine", "steps": 18,
                     "scheduler_config": {"remask_temp": 4.5, "guidance": 10.0, "guidance_schedule": "linear"}},
        licence=("not stated (LeapLabTHU/AdaNAT and the nzl-thu/MUSE Hub repo name none); text encoder "
                 "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k: MIT (its model card); " + _MAGE_NOTE),
        citation=_ADANAT_CITE + "; Chang et al., 'Muse: Text-To-Image Generation via Masked Generative Transformers', "
                 "arXiv:2301.00704; MUSE-Pytorch (nzl-thu)",
        notes=(_DRIVE_NOTE + " The text encoder (CLIP ViT-bigG/14) stays in the Hugging Face cache and needs "
               "transformers (pip install 'adanat[text]'). The learned policy is shipped for --scheduler adanat "
               "--steps 8; MUSE's own sampling (cosine, 18 steps, guidance 10) is the recommendation."),
        text_encoder=ZooTextEncoder("laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", projection_dim=1280),
        reference_stats="cc3m-val",
        recommend_policy=False,
    ),
)

_entries: dict[str, ZooEntry] = {e.name: e for e in BUILTIN_ENTRIES}


def register_entry(entry: ZooEntry, replace: bool = False) -> None:
    """Add an entry at run time (``replace=True`` to swap one with the same name)."""
    if entry.name in _entries and not replace:
        raise ValueError(f"zoo entry '{entry.name}' already exists")
    _entries[entry.name] = entry


def unregister_entry(name: str) -> None:
    """Remove a run-time entry; a built-in one is restored to its original definition."""
    _entries.pop(name, None)
    builtin = {e.name: e for e in BUILTIN_ENTRIES}
    if name in builtin:
        _entries[name] = builtin[name]


def zoo_entries() -> list[ZooEntry]:
    return list(_entries.values())


def zoo_entry(name: str) -> ZooEntry:
    if name not in _entries:
        raise NotFoundError(unknown_name_message("zoo model", name, sorted(_entries)))
    return _entries[name]


def is_zoo_name(name: str) -> bool:
    return name in _entries
