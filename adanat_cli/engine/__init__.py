"""The decoding loop shared by sample, compare, fid and train-policy."""

from .state import GenerationState, StepPlan

__all__ = ["GenerationState", "StepPlan"]
