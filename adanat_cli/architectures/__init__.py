"""Network architectures: NAT backbones (U-ViT, MaskGIT, ENAT) and VQ tokenizers, each one nn.Module
read top to bottom. Nothing here knows about bundles, schedulers or the CLI."""
