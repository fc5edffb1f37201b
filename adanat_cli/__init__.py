"""adanat: token-based image generation with non-autoregressive Transformers and pluggable policies."""

__version__ = "0.1.0"
