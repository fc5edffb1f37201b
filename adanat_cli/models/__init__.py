"""Backbones, tokenizers, model bundles and converters from the public checkpoint formats."""
