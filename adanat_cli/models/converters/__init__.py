"""Converters from the public implementations' state dicts into our modules (one module per family)."""
