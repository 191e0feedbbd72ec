"""The trained models kept in results/models/ are the ones their rows describe: each `.keras` file loads with
today's code and scores on LSPET val what its row (study STUDY, variant VARIANT, seed 0, lesson scale) says.

A file is named STUDY-VARIANT.keras (results/README.md). The CSV keeps two decimals and one joint of one
person is about 0.004 points of PCKh, so a model that decodes, crops or normalises differently from the run
that wrote the row misses by far more than the tolerance. Measured on this package's machine: every file
within 0.01 of its row, 6 to 15 s each."""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import keras
import pytest
from conftest import require

RESULTS = Path(__file__).resolve().parents[1] / "results"
MODELS = sorted((RESULTS / "models").glob("*.keras"))

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                 reason="the rows were scored under TensorFlow; one backend is enough for a file")]


def _row(path: Path) -> dict:
    study, variant = path.stem.split("-", 1)
    with open(RESULTS / f"{study}.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f)
                if row["variant"] == variant and row["scale"] == "lesson" and row["seed"] == "0"]
    assert len(rows) == 1, f"{path.name}: expected one lesson row of seed 0 in results/{study}.csv, found {len(rows)}"
    return rows[0]


def test_the_kept_models_are_named_after_rows():
    assert len(MODELS) >= 7, [p.name for p in MODELS]
    for path in MODELS:
        _row(path)


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_a_kept_model_scores_what_its_row_says(path):
    from kerasgp.data import DataWarning
    from kerasgp.pose import evaluate_file

    require("lspet")
    row = _row(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        result = evaluate_file(path, "lspet", split="val")
    assert result["people"] == int(row["val_people"])
    assert list(result["input_size"]) == [int(row["input_size"])] * 2
    for key in ("pckh@0.5", "pckh@0.1", "pck@0.2"):
        assert result[key] == pytest.approx(float(row[key]), abs=0.02), (path.name, key)
    keras.backend.clear_session()
