"""``python -m adanat_cli`` runs the CLI (used with ``torchrun -m adanat_cli``)."""

from .cli.app import main

main()
