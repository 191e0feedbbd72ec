"""A proxy task for lessons that train many small nets in seconds: rotation prediction on pose crops.

From scratch, pose regression on LSPET learns nothing a 2-core CPU can show in the seconds a lesson has
per network (lesson 02 tried 2-6 epochs on 256-1,024 people: no net beat the mean pose). Rotation
prediction (Gidaris, Singh, Komodakis, "Unsupervised Representation Learning by Predicting Image
Rotations", ICLR 2018) uses the same real crops: each person is shown upright and rotated by 90, 180 and
270 degrees, and the net names the rotation. The labels are exact, need no annotation, and a small
from-scratch net fits them within a few epochs, so lessons 02-05 compare how well each architecture's
gradient paths let a net *fit* (its training loss), which is the learning ability the gradient-path paper
argues about.
"""
from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np

from ..data import DataWarning, PoseBatches, build_cache, load

NUM_ROTATIONS = 4


def rotation_task(split: str = "train", count: int = 256, size: int = 32, data: str = "lspet"):
    """The first `count` people of `split`, cropped to size x size, each in four rotations.

    Returns (images, labels): float32 (4 * count, size, size, 3) in [0, 1] as the crop cache gives them,
    ordered rotation by rotation (all upright first), and int labels 0-3 (multiples of 90 degrees,
    counter-clockwise).
    """
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # people without a head size do not matter here
        people = load(data, split=split)
    if count > len(people.records):
        raise ValueError(f"{data} {split} has {len(people.records)} people; asked for {count}")
    subset = dataclasses.replace(people, records=people.records[:count])
    cache = build_cache(subset, (size, size), progress=False)
    images = PoseBatches(cache, batch_size=len(cache), targets="coords").batch(0)["images"]  # (N, size, size, 3)
    rotated = np.concatenate([np.rot90(images, k, axes=(1, 2)) for k in range(NUM_ROTATIONS)])
    return np.ascontiguousarray(rotated), np.repeat(np.arange(NUM_ROTATIONS), len(images))


def fit_classifier(model, train, val=None, *, epochs: int = 6, batch_size: int = 32,
                   learning_rate: float = 2e-3) -> dict:
    """Train `model` (logits) with Adam and sparse cross-entropy; return what the lessons tabulate.

    train, val: (images, labels). The caller seeds (keras.utils.set_random_seed) before building the
    model, so that nets compared in a lesson start from the same draw. Returns a dict: `curve` (the first
    batch's loss, before any update, then each epoch's mean training loss), `first_batch_loss`,
    `final_loss`, `train_accuracy` (last epoch, training mode), `val_accuracy` (inference mode; None
    without val), `seconds` (training wall time, which varies run to run) and `params`.
    """
    import keras
    from keras import ops

    class FirstBatchLoss(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if not hasattr(self, "loss"):
                self.loss = float(logs["loss"])

    first = FirstBatchLoss()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(learning_rate), loss, metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(*train, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[first])
    seconds = time.perf_counter() - start
    val_accuracy = None
    if val is not None:
        # Direct calls in fixed chunks: no predict() retracing warnings, bounded memory.
        logits = np.concatenate([ops.convert_to_numpy(model(val[0][i:i + 256], training=False))
                                 for i in range(0, len(val[0]), 256)])
        val_accuracy = float((logits.argmax(-1) == val[1]).mean())
    return {"curve": [first.loss] + [float(v) for v in history.history["loss"]], "first_batch_loss": first.loss,
            "final_loss": float(history.history["loss"][-1]),
            "train_accuracy": float(history.history["accuracy"][-1]), "val_accuracy": val_accuracy,
            "seconds": seconds, "params": model.count_params()}
