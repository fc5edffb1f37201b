"""Quality metrics: Fréchet distance and the digit classifier used as its feature extractor."""

from .digit_classifier import DigitClassifier, load_classifier, load_fid_stats
from .frechet import feature_stats, frechet_distance

__all__ = ["DigitClassifier", "feature_stats", "frechet_distance", "load_classifier", "load_fid_stats"]
