"""Public converters from the official checkpoint formats into adanat modules.

Each takes a state dict with the public implementation's own key names and the config dict that
implementation was built with; every key must be consumed, and a missing, unexpected or mis-shaped key
raises ``ConversionError`` naming it.
"""

from .converters.enat import enat_from_official
from .converters.maskgit import maskgit_from_official
from .converters.uvit import uvit_from_official
from .converters.uvit_text import uvit_t2i_from_official
from .converters.vqgan import vqgan_jax_from_official, vqgan_taming_from_official

__all__ = [
    "enat_from_official",
    "maskgit_from_official",
    "uvit_from_official",
    "uvit_t2i_from_official",
    "vqgan_jax_from_official",
    "vqgan_taming_from_official",
]
