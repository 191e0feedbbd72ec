"""The deployment accuracy bound, pinned: for every head family of the pose study, the full-int8 TFLite model
keeps PCKh@0.5 within 1.0 point of the float Keras model on LSPET val.

The models are the heads study's trained rows, kept in results/models/ (results/README.md): DeepPose+RLE,
the SimpleBaseline heatmap, DSNT+RLE, SA-SimDR decoded by argmax and SA-SimDR+RLE decoded by soft-argmax.
Each is cut to its deployable form (decoding inside the model, as it ships), converted with the default
options (calibrated on 200 LSPET training crops) and both are scored on the same 400 val people.
On these 400 people (float -> int8): rle 30.60 -> 30.48, heatmap 27.21 -> 27.72, dsnt_rle 35.91 -> 36.11,
sa_simdr_sigma6 34.28 -> 34.63, sa_simdr_sigma6_rle 36.44 -> 36.55. Before SimCC's logits and decoding
stayed float (`kerasgp.deploy.float_decoding_layers`) the two SimCC rows failed this test by 4 to 29 points.
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import keras
import pytest

MODELS = Path(__file__).resolve().parents[1] / "results" / "models"
FAMILIES = {"rle": "regression/RLE", "heatmap": "heatmap", "dsnt_rle": "IPR/DSNT",
            "sa_simdr_sigma6": "SimCC, argmax", "sa_simdr_sigma6_rle": "SimCC, soft-argmax"}
PEOPLE = 400

pytestmark = [pytest.mark.tflite, pytest.mark.slow,
              pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                 reason="converted under the TensorFlow backend, the conversion's own")]


@pytest.fixture(scope="module")
def val_cache(lspet_val):
    from kerasgp.data import DataWarning, build_cache

    subset = dataclasses.replace(lspet_val, records=lspet_val.records[:PEOPLE], split=f"val-first{PEOPLE}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return build_cache(subset, (128, 128), progress=False)


@pytest.mark.parametrize("variant", list(FAMILIES))
def test_int8_keeps_pckh_within_one_point_of_float(variant, val_cache, tmp_path):
    from kerasgp.deploy import convert
    from kerasgp.deploy.tflite import load_keras
    from kerasgp.pose import evaluate
    from kerasgp.pose.decoding import deployable_model
    from kerasgp.pose.estimator import TFLitePoseModel

    model = deployable_model(load_keras(MODELS / f"heads-{variant}.keras"))
    convert(model, "int8", representative="lspet", num_samples=200, out=tmp_path / "m.tflite")
    float_pckh = evaluate(model, val_cache)["pckh@0.5"]
    int8_pckh = evaluate(TFLitePoseModel(tmp_path / "m.tflite"), val_cache)["pckh@0.5"]
    assert float_pckh > 20, (variant, float_pckh)  # a trained model, not noise
    assert abs(int8_pckh - float_pckh) <= 1.0, (FAMILIES[variant], float_pckh, int8_pckh)
