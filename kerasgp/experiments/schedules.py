"""Learning-rate schedules of the study recipes.

- "cosine" (the lesson scale): Adam's rate decays from its peak to 0 over the run (SGDR's cosine without
  restarts), with an optional linear warm-up.
- "multistep" (the full scale, mmpose's top-down recipes): a linear warm-up over the first iterations
  from `warmup_factor` times the rate (mmengine's LinearLR, by iteration), then the rate times gamma at each
  milestone epoch (MultiStepLR); the two multiply, as mmengine composes them.
"""
from __future__ import annotations

import keras
from keras import ops

from .recipe import as_recipe


@keras.saving.register_keras_serializable(package="kerasgp")
class WarmupMultiStep(keras.optimizers.schedules.LearningRateSchedule):
    """rate(step) = learning_rate * warm-up(step) * gamma ** (milestones passed).

    boundaries: the optimizer steps at which the milestones fall (milestone epoch times steps per epoch);
    warmup_steps: 0 for none; warmup_factor: the first step's share of the rate (mmpose: 0.001)."""

    def __init__(self, learning_rate: float, boundaries, gamma: float = 0.1, warmup_steps: int = 0,
                 warmup_factor: float = 0.001):
        self.learning_rate, self.gamma = float(learning_rate), float(gamma)
        self.boundaries = [int(b) for b in boundaries]
        self.warmup_steps, self.warmup_factor = int(warmup_steps), float(warmup_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        passed = sum((ops.cast(ops.greater_equal(step, b), "float32") for b in self.boundaries), ops.zeros(()))
        rate = self.learning_rate * ops.power(self.gamma, passed)
        if self.warmup_steps:
            ramp = self.warmup_factor + (1.0 - self.warmup_factor) * ops.minimum(step / self.warmup_steps, 1.0)
            rate = rate * ramp
        return rate

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate, "boundaries": self.boundaries, "gamma": self.gamma,
                "warmup_steps": self.warmup_steps, "warmup_factor": self.warmup_factor}


def scaled_batch(r: dict, batch_size: int) -> dict:
    """The overrides that train recipe r at another global batch: {"batch_size", "learning_rate"}, the rate
    scaled linearly with the batch (Goyal et al., 2017, "Accurate, Large Minibatch SGD": batch x k, rate x k;
    mmpose's auto_scale_lr applies the same rule). `ablate --batch-size`: more devices, more samples per step."""
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"--batch-size needs a whole number >= 1; got {batch_size}")
    return {"batch_size": int(batch_size), "learning_rate": r["learning_rate"] * batch_size / r["batch_size"]}


def learning_rate_schedule(r, steps_per_epoch: int):
    """The recipe's schedule for a run of its epochs of steps_per_epoch optimizer steps (r: a `Recipe`, or a
    flat recipe dict, checked by `as_recipe`: an unknown schedule or bad milestones fail there).

    lr_schedule: "cosine" or "multistep"; warmup_steps: linear warm-up iterations (both); lr_milestones: the
    epochs where "multistep" multiplies the rate by 0.1. The rate is the global batch's: data-parallel
    training splits that batch and keeps the rate (`distribute.DataParallel`)."""
    t = as_recipe(r).training
    warmup, steps = t.warmup_steps, steps_per_epoch * t.epochs
    if warmup >= steps:  # the one check that needs the data: steps per epoch
        raise ValueError(f"warmup_steps={warmup} must be at least 0 and less than the run's {steps} steps")
    if t.lr_schedule == "multistep":
        return WarmupMultiStep(t.learning_rate, [m * steps_per_epoch for m in t.lr_milestones], 0.1, warmup)
    if not warmup:  # the lesson scale's schedule, built exactly as its rows were trained
        return keras.optimizers.schedules.CosineDecay(t.learning_rate, decay_steps=steps)
    return keras.optimizers.schedules.CosineDecay(0.001 * t.learning_rate, decay_steps=steps - warmup,
                                                  warmup_target=t.learning_rate, warmup_steps=warmup)
