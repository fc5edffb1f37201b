"""Generation policies: the contract between the decoding loop and a policy (``GenerationState`` in,
``StepPlan`` out, ``Scheduler`` with configs that round-trip) and the built-in plugins. A third-party
scheduler imports these three names from here."""

from .base import Scheduler
from .state import GenerationState, StepPlan

__all__ = ["GenerationState", "Scheduler", "StepPlan"]
