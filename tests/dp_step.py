"""One training step of a pose model on one device and data-parallel over N CPU devices (a subprocess of
test_distribute.py: the device count must be set before the backend starts).

    python tests/dp_step.py BACKEND N [unsynchronized]  ->  prints one JSON line: the largest weight update
    of the step and the largest difference between the one-device and the N-device weights; unsynchronized
    (TensorFlow): each replica's batch normalisation keeps its own statistics (a second MirroredStrategy in
    one process clashes with the first's collectives, hence a process of its own)
"""
import json
import os
import sys

backend, count = sys.argv[1], int(sys.argv[2])
synchronized = sys.argv[3:] != ["unsynchronized"]
os.environ["KERAS_BACKEND"] = backend

from kerasgp.experiments import distribute  # noqa: E402

distribute.simulate_cpu_devices(count)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasgp.experiments import recipe, runner  # noqa: E402
from kerasgp.experiments.training import Plan  # noqa: E402

BATCH = 8
# the RLE row of the heads study at smoke size, random weights (no data or download needed): BN in the
# backbone, the RealNVP flow and a loss layer in the training graph
RECIPE = {**recipe("heads", "rle", "smoke"), "weights": None}


def one_step(devices, synchronized=True):
    keras.backend.clear_session()
    replicas = distribute.DataParallel(devices)
    with replicas.scope():
        keras.utils.set_random_seed(0)
        model = runner.build_model(RECIPE, 14)
        plan = Plan(model, RECIPE, 14)
        if synchronized:
            replicas.prepare(plan.model)
        # plain SGD: the weights move by lr * gradient, so a difference in them is a difference in gradients
        plan.model.compile(optimizer=keras.optimizers.SGD(0.1), loss=plan.losses, loss_weights=plan.loss_weights)
    before = [keras.ops.convert_to_numpy(w) for w in model.weights]
    rng = np.random.default_rng(0)
    size = RECIPE["input_size"]
    batch = {"images": rng.random((BATCH, size, size, 3), np.float32),
             "target_weight": (rng.random((BATCH, 14)) > 0.2).astype(np.float32),
             "coords": rng.uniform(-0.4, 0.4, (BATCH, 14, 2)).astype(np.float32)}
    x, y = plan.pack(batch)
    with replicas.scope():
        plan.model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return before, [keras.ops.convert_to_numpy(w) for w in model.weights]


def largest(a, b):
    return max(float(np.abs(u - v).max()) for u, v in zip(a, b, strict=True))


before, single = one_step(distribute.resolve_devices(1))
devices = distribute.resolve_devices("all")
_, parallel = one_step(devices, synchronized)
print(json.dumps({"devices": len(devices), "largest_update": largest(before, single),
                  "difference": largest(single, parallel)}))
