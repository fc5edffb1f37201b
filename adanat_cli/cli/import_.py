"""``adanat import``: convert official checkpoint files on disk into a model bundle."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import NotFoundError
from ..models.cache import bundles_root
from ..models.converters.policy import policy_from_official
from ..models.formats import FORMATS, import_format, import_model
from ..models.ship import add_official_policy


def import_command(
    fmt: str = typer.Option(..., "--format", "-f", help=f"Checkpoint family: {', '.join(FORMATS)}, or the name of a backbone plugin that reads its own layout."),
    nnet: Path = typer.Option(..., "--nnet", help="The generator checkpoint (U-ViT nnet state dict, or MaskGIT-pytorch .pth)."),
    tokenizer: Path = typer.Option(..., "--tokenizer", help="The VQGAN checkpoint (vqgan_jax_strongaug.ckpt, or taming last.ckpt)."),
    tokenizer_config: Path = typer.Option(None, "--tokenizer-config", help="The VQGAN's model.yaml (required for maskgit)."),
    name: str = typer.Option(..., "--name", help="The bundle's model name."),
    out: Path = typer.Option(None, "--out", "-o", help="Bundle folder (default: <HF cache>/adanat-bundles/NAME, found by --model NAME)."),
    heads: int = typer.Option(None, "--heads", help="Attention heads (default: the format's published models)."),
    enc_dec: str = typer.Option(None, "--enc-dec", help="ENAT only: encoder,decoder block counts (default: all but the last 2, as ENAT-L's 22,2)."),
    policy: Path = typer.Option(None, "--policy", help="An official AdaNAT policy checkpoint to ship as the default of --scheduler adanat."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing bundle."),
) -> None:
    """Convert official files into a bundle; pickles are opened weights-only, anything else is refused.

    Examples:
      adanat import --format autonat --nnet nnet_ema.pth --tokenizer vqgan_jax_strongaug.ckpt --name autonat-L-imagenet256
      adanat import --format adanat --nnet nnet_ema.pth --tokenizer vqgan_jax_strongaug.ckpt --policy policy.pth --name my-adanat
    """
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise typer.BadParameter("must be a plain name", param_hint="--name")
    target = out if out is not None else bundles_root() / name
    import_format(fmt)  # an unknown format: named before any file is looked at
    for option, given in (("--nnet", nnet), ("--tokenizer", tokenizer), ("--tokenizer-config", tokenizer_config),
                          ("--policy", policy)):
        if given is not None and not given.is_file():
            raise NotFoundError(f"{option} {given} does not exist (or is not a file)")
    if policy is not None:  # read it first, so a bad policy file leaves no bundle behind
        policy_from_official(policy)
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
                        num_heads=heads, enc_dec=split, overwrite=overwrite)
    if policy is not None:
        typer.echo(f"converting policy {policy.name}", err=True)
        add_official_policy(path, policy)
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
