"""Generation policies: the Scheduler protocol and the built-in plugins."""

from .base import Scheduler

__all__ = ["Scheduler"]
