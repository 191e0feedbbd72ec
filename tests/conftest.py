"""Shared fixtures. Real data comes through the data-root lookup (CI sets KERASGP_DATA); a test that
needs a data set that is absent is skipped with a reason that says which and how to get it."""
from __future__ import annotations

import gc
import os

import cv2
import numpy as np
import pytest
import scipy.io

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_finish(session):
    # Every test module, and with them TensorFlow, JAX or torch, is imported by now. Freezing those millions
    # of objects keeps each garbage collection (Keras' clear_session runs one) to what the tests made: the
    # suite's later tests spent minutes in collections of the import-time heap.
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory):
    # Tests build caches in a throw-away folder, never in the user's ~/.cache.
    os.environ["KERASGP_CACHE"] = str(tmp_path_factory.mktemp("kerasgp-cache"))


def require(name: str):
    from kerasgp.data import find

    path = find(name)
    if path is None:
        pytest.skip(f"data set {name!r} not found; run `python -m kerasgp data fetch {name}` or set KERASGP_DATA")
    return path


@pytest.fixture(scope="session")
def lspet_val():
    import warnings

    from kerasgp.data import DataWarning, load

    require("lspet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load("lspet", split="val")


def write_image(path, width=64, height=48, seed=0):
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


@pytest.fixture
def tiny_lsp(tmp_path):
    """A 3-person folder in LSPET's format (joints.mat 14 x 3 x N + images/), for the error cases."""
    (tmp_path / "images").mkdir()
    rng = np.random.default_rng(0)
    joints = np.zeros((14, 3, 3))
    joints[:, 0, :] = rng.uniform(5, 55, (14, 3))
    joints[:, 1, :] = rng.uniform(5, 40, (14, 3))
    joints[:, 2, :] = 1
    for n in range(3):
        write_image(tmp_path / "images" / f"im{n + 1:05d}.jpg", seed=n)
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": joints})
    return tmp_path, joints


def input_gradient(fn, x):
    """d sum(fn(x)) / dx with the active backend's own autodiff (fn: a model or any callable)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(fn(x))
        return tape.gradient(total, x).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda t: fn(t).sum())(x))
    if backend == "torch":
        import torch

        x = torch.tensor(x, requires_grad=True)
        fn(x).sum().backward()
        return x.grad.numpy()
    pytest.skip(f"no gradient helper for backend {backend}")
