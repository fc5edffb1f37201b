"""Built-in model bundles (one folder each) and the scripts that build them."""
