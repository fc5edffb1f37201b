"""How the built-in model bundles were made: one reproducible script per bundle.

    python -m adanat_cli.builds.tiny_mnist        # writes adanat_cli/models/builtin/tiny-mnist
    python -m adanat_cli.builds.tiny_mnist_enat   # writes adanat_cli/models/builtin/tiny-mnist-enat

Nothing in the package imports these modules: they sit on top of every layer, like the CLI.
"""
