"""Image data sources: the bundled MNIST subset and ImageNet-style folders."""

from .sources import ImageFolder, mnist5k

__all__ = ["ImageFolder", "mnist5k"]
