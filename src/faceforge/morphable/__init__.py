"""Morphable models: data (``MorphableModel``) and the pure functions that evaluate them."""

from faceforge.morphable.evaluate import evaluate, evaluate_landmarks, shape_vertices
from faceforge.morphable.model import MorphableModel, Skeleton
from faceforge.morphable.synthetic import make_synthetic_model

__all__ = ["MorphableModel", "Skeleton", "evaluate", "evaluate_landmarks", "make_synthetic_model", "shape_vertices"]
