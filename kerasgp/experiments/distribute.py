"""Data-parallel training through each backend's own engine: `ablate STUDY --devices all`.

- JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`. The train step is one
  program over the global batch, split along its first axis; batch normalisation's statistics are those
  of the global batch, as on one device.
- TensorFlow: `tf.distribute.MirroredStrategy` (Keras' distribution API is unfinished on this backend).
  Each replica computes its share of the batch; Keras scales the loss by 1 / replicas and the gradients
  are summed. Batch normalisation is switched to `synchronized=True` while it trains, so its statistics
  are the global batch's too (SyncBN, as multi-GPU pose training uses): without it each replica would
  normalise by its own quarter of the batch and the run would differ from one device.
- PyTorch: Keras 3 has no distribution for this backend; asking for more than one device is an error.

The recipe's batch_size is the GLOBAL batch: with N devices each gets batch_size / N (it must divide), so
the learning rate, which belongs to the global batch, is unchanged and N devices train the same model as
one. To use more devices for speed, raise batch_size with them and scale the learning rate linearly
(Goyal et al., 2017: batch x k -> learning rate x k, with warm-up for large k). The last, partial batch of
an epoch is dropped when N > 1, so every step splits evenly.

On a machine without accelerators, `simulate_cpu_devices(N)` (`ablate --cpu-devices N`) splits the CPU
into N devices, before the backend starts, to check correctness: N CPU devices share the same cores, so
their samples/s say nothing about speed on N accelerators.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys

import keras

ENGINES = {"jax": "keras.distribution.DataParallel", "tensorflow": "tf.distribute.MirroredStrategy"}


def simulate_cpu_devices(count: int) -> None:
    """Make the backend see `count` CPU devices (call before its first computation)."""
    if count < 1:
        raise ValueError(f"--cpu-devices needs a count >= 1; got {count}")
    backend = keras.backend.backend()
    if backend == "jax":
        if "jax" in sys.modules and _jax_started():
            raise RuntimeError("JAX has already started its CPU backend; set the CPU device count before any "
                               "computation (XLA_FLAGS=--xla_force_host_platform_device_count=N)")
        flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
        os.environ["XLA_FLAGS"] = " ".join([*flags, f"--xla_force_host_platform_device_count={count}"])
    elif backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
        except RuntimeError as error:  # TensorFlow's runtime already started
            raise RuntimeError(f"TensorFlow has already started; split the CPU before any computation ({error})") \
                from None
    elif count > 1:
        raise ValueError(_no_engine(backend))


def _jax_started() -> bool:
    from jax._src import xla_bridge  # private, but the only way to ask without starting it

    return bool(getattr(xla_bridge, "_backends", None))


def _no_engine(backend: str) -> str:
    return (f"data-parallel training runs on the jax and tensorflow backends (Keras 3 has no distribution for "
            f"{backend}); set KERAS_BACKEND=jax or tensorflow, or train on one device")


def list_devices() -> list[str]:
    """The devices data-parallel training can use: the accelerators, else the CPU device(s)."""
    backend = keras.backend.backend()
    if backend == "jax":
        return keras.distribution.list_devices()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return ["cpu:0"]


def resolve_devices(spec) -> list[str]:
    """`--devices` -> the device names to train on: None or 1 -> one device (the default), "all" -> every
    device `list_devices` gives, N -> the first N of them (an error if there are fewer)."""
    available = list_devices()
    if spec in (None, 1, "1"):
        return available[:1]
    if spec == "all":
        return available
    try:
        count = int(spec)
    except (TypeError, ValueError):
        raise ValueError(f"--devices is 'all' or a device count; got {spec!r}") from None
    if count < 1:
        raise ValueError(f"--devices needs a count >= 1; got {count}")
    if count > len(available):
        raise ValueError(f"--devices {count}: this {keras.backend.backend()} backend sees {len(available)} "
                         f"device(s) ({', '.join(available)}); on a CPU, --cpu-devices N splits it into N")
    return available[:count]


class DataParallel:
    """The replicas of one training run: `scope()` is where its model is built and compiled, and
    `prepare(model)` readies a built model (SyncBN under TensorFlow). One device: both do nothing."""

    def __init__(self, devices: list[str]):
        self.devices = list(devices)
        self.count = len(self.devices)
        self.backend = keras.backend.backend()
        if self.count > 1 and self.backend not in ENGINES:
            raise ValueError(_no_engine(self.backend))
        self.engine = ENGINES[self.backend] if self.count > 1 else "one device"

    @functools.cached_property
    def _engine(self):
        """Made on first use, then kept: a model built under one MirroredStrategy must fit under the same one."""
        if self.count == 1:
            return None
        if self.backend == "jax":
            return keras.distribution.DataParallel(devices=self.devices)
        import tensorflow as tf

        return tf.distribute.MirroredStrategy(self.devices)

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.count:
            raise ValueError(f"the global batch of {batch_size} does not split evenly over {self.count} devices; "
                             f"use a batch size that {self.count} divides (ablate --batch-size)")

    @contextlib.contextmanager
    def scope(self):
        if self._engine is None:
            yield self
        else:
            with self._engine.scope():
                yield self

    def prepare(self, model) -> list:
        """Under TensorFlow with several replicas, every BatchNormalization of `model` uses the global
        batch's statistics (synchronized) while it trains; returns the layers switched. The runner scores
        and saves a one-device copy, whose batch normalisation is the plain layer."""
        if self.count == 1 or self.backend != "tensorflow":
            return []
        switched = [layer for layer in _layers(model)
                    if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized]
        for layer in switched:
            layer.synchronized = True
        return switched


def _layers(model):
    """Every layer of model, those of nested models (the backbone) included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
