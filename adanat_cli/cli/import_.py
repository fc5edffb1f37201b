"""``adanat import``: convert official checkpoint files on disk into a model bundle."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import NotFoundError
from ..models.cache import bundles_root
from ..models.converters.policy import policy_from_official
from ..models.formats import FORMATS, import_format, import_model
from ..models.hub_text import resolve_text_encoder
from ..models.ship import add_official_policy
from ..models.zoo import zoo_entries


def import_command(
    fmt: str = typer.Option(..., "--format", "-f", help=f"Checkpoint family: {', '.join(FORMATS)}, or the name of a backbone plugin that reads its own layout."),
    nnet: Path = typer.Option(..., "--nnet", help="The generator checkpoint (U-ViT nnet state dict, MUSE's text-to-image nnet_ema.pth, or MaskGIT-pytorch .pth)."),
    tokenizer: Path = typer.Option(..., "--tokenizer", help="The VQGAN checkpoint (vqgan_jax_strongaug.ckpt, or taming last.ckpt)."),
    tokenizer_config: Path = typer.Option(None, "--tokenizer-config", help="The VQGAN's model.yaml (required for maskgit)."),
    name: str = typer.Option(..., "--name", help="The bundle's model name."),
    out: Path = typer.Option(None, "--out", "-o", help="Bundle folder (default: <HF cache>/adanat-bundles/NAME, found by --model NAME)."),
    heads: int = typer.Option(None, "--heads", help="Attention heads (default: the format's published models)."),
    enc_dec: str = typer.Option(None, "--enc-dec", help="ENAT only: encoder,decoder block counts (default: all but the last 2, as ENAT-L's 22,2)."),
    policy: Path = typer.Option(None, "--policy", help="An official AdaNAT policy checkpoint to ship as the default of --scheduler adanat."),
    text_encoder: str = typer.Option(None, "--text-encoder", help="Text-to-image formats (muse-t2i): the CLIP text encoder, a Hugging Face repo id (fetched into the HF cache, or read from it offline) or a folder saved with save_pretrained; the bundle names it, its weights stay there."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing bundle."),
) -> None:
    """Convert official files into a bundle; pickles are opened weights-only, anything else is refused.

    Examples:
      adanat import --format autonat --nnet nnet_ema.pth --tokenizer vqgan_jax_strongaug.ckpt --name autonat-L-imagenet256
      adanat import --format adanat --nnet nnet_ema.pth --tokenizer vqgan_jax_strongaug.ckpt --policy policy.pth --name my-adanat
      adanat import --format muse-t2i --nnet nnet_ema.pth --tokenizer vqgan_jax_strongaug.ckpt --text-encoder laion/CLIP-ViT-bigG-14-laion2B-39B-b160k --policy cc3m_policy.pth --name my-cc3m
    """
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise typer.BadParameter("must be a plain name", param_hint="--name")
    target = out if out is not None else bundles_root() / name
    spec = import_format(fmt)  # an unknown format: named before any file is looked at
    if spec.text and not text_encoder:
        raise typer.BadParameter(f"'{fmt}' checkpoints are text-to-image: name their text encoder (a Hub repo id or a folder)",
                                 param_hint="--text-encoder")
    if text_encoder and not spec.text:
        raise typer.BadParameter(f"'{fmt}' checkpoints are class-conditional: they take no text encoder",
                                 param_hint="--text-encoder")
    for option, given in (("--nnet", nnet), ("--tokenizer", tokenizer), ("--tokenizer-config", tokenizer_config),
                          ("--policy", policy)):
        if given is not None and not given.is_file():
            raise NotFoundError(f"{option} {given} does not exist (or is not a file)")
    if policy is not None:  # read it first, so a bad policy file leaves no bundle behind
        policy_from_official(policy)
    source = None
    if text_encoder:
        # the zoo's settings for a known encoder (ViT-bigG/14 is loaded with projection_dim=1280, as officially)
        known = next((e.text_encoder for e in zoo_entries() if e.text_encoder and e.text_encoder.repo_id == text_encoder), None)
        source = resolve_text_encoder(text_encoder, projection_dim=known.projection_dim if known else None,
                                      on_progress=lambda message: typer.echo(message, err=True))
        typer.echo(f"text encoder: {source.where}", err=True)
    typer.echo(f"converting {nnet.name} + {tokenizer.name} ({fmt})", err=True)
    split = None
    if enc_dec is not None:
        try:
            split = [int(v) for v in enc_dec.split(",")]
        except ValueError:
            split = []
        if len(split) != 2 or min(split) < 1:
            raise typer.BadParameter("expected two positive integers, e.g. 22,2", param_hint="--enc-dec")
    path = import_model(fmt, nnet, tokenizer, name, target, tokenizer_config=tokenizer_config,
                        num_heads=heads, enc_dec=split, overwrite=overwrite, text_encoder=source)
    if policy is not None:
        typer.echo(f"converting policy {policy.name}", err=True)
        # a text-to-image model keeps MUSE's recommended sampling; its policy serves --scheduler adanat
        add_official_policy(path, policy, recommend=not spec.text)
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
