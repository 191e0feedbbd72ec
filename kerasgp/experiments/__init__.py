"""Declarative studies (a base recipe + named variants) and the runner that trains them."""
from .runner import run_study, train_variant
from .studies import BASE_RECIPE, SCALES, STUDIES, recipe
from .timing import keras_latency

__all__ = ["run_study", "train_variant", "recipe", "keras_latency", "STUDIES", "SCALES", "BASE_RECIPE"]
