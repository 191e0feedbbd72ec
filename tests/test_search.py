"""The hardware-aware search: the mixed op, the expected latency, the derivation, the LUT's checks, a
tiny search end to end and the study that reads its result."""
import csv
import json

import keras
import numpy as np
import pytest

from kerasgp.experiments import search as S
from kerasgp.experiments.studies import recipe

TINY = S.SearchSpace(width=4, positions=(1, 1, 1, 1), input_size=32, candidates=("k3e2", "k5e2", "skip"))
# The tests build supernets with zero kernels: they check the mechanics, and JAX compiles a random
# initializer once per weight shape (most of a test's time otherwise).
SMALLEST = S.SearchSpace(width=4, positions=(1, 1, 1, 1), input_size=32, candidates=("k3e2", "skip"))


def _lut_rows(space, runtime="ai-edge-litert test", threads="1", machine="test cpu"):
    rows = [{"part": "fixed", "candidate": "all-skip", "stage": -1, "height": space.input_size,
             "width": space.input_size, "channels": 3, "median_ms": 0.5}]
    for stage, (height, width, channels) in enumerate(space.stage_shapes()):
        for j, code in enumerate(space.candidates):
            ms = 0.0 if code == "skip" else 0.1 * (j + 1) / (stage + 1)
            rows.append({"part": "block", "candidate": code, "stage": stage, "height": height, "width": width,
                         "channels": channels, "median_ms": ms})
    return [{**r, "runtime": runtime, "threads": threads, "machine": machine} for r in rows]


def _write(path, rows, columns=S.LUT_COLUMNS):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_mixed_op_outputs_the_softmax_weighted_sum_of_its_candidates():
    rng = np.random.default_rng(0)
    candidates = [rng.normal(size=(2, 3, 3, 4)).astype("float32") for _ in range(3)]
    mix = S.ArchitectureMix(logit_scale=2.0)
    mix.build([c.shape for c in candidates])
    theta = np.array([0.3, -1.0, 0.5], "float32")
    mix.theta.assign(theta)
    out = keras.ops.convert_to_numpy(mix(candidates))
    weights = np.exp(2 * theta) / np.exp(2 * theta).sum()
    assert np.allclose(out, sum(w * c for w, c in zip(weights, candidates)), atol=1e-5)
    assert np.allclose(keras.ops.convert_to_numpy(mix.logits()), 2 * theta)


def test_the_latency_loss_is_lambda_times_the_expected_latency_over_the_reference():
    latency = [0.2, 1.5, 0.0]
    mix = S.ArchitectureMix(latency=latency, latency_weight=0.7, latency_reference=4.0)
    candidates = [np.ones((1, 2, 2, 2), "float32") * k for k in range(3)]
    mix.build([c.shape for c in candidates])
    mix.theta.assign(np.array([1.0, 0.0, -1.0], "float32"))
    mix(candidates)
    p = np.exp([1.0, 0.0, -1.0]) / np.exp([1.0, 0.0, -1.0]).sum()
    assert len(mix.losses) == 1
    assert np.isclose(float(keras.ops.convert_to_numpy(mix.losses[0])), 0.7 * (p @ latency) / 4.0, rtol=1e-5)


def test_expected_latency_is_the_numpy_dot_product_of_probabilities_and_the_lut():
    rng = np.random.default_rng(1)
    logits, lut = rng.normal(size=(5, 7)), rng.uniform(0, 3, size=(5, 7))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    assert np.isclose(S.expected_latency(logits, lut), sum(p[i] @ lut[i] for i in range(5)))
    uniform = np.zeros((5, 7))
    assert np.isclose(S.expected_latency(uniform, lut), lut.mean(-1).sum())
    with pytest.raises(ValueError, match="same"):
        S.expected_latency(logits, lut[:4])


def test_the_derived_arch_takes_the_argmax_at_every_position():
    logits = np.array([[0, 5, 1], [2, 0, 1], [0, 0, 9], [-1, 3, 2.9]])
    assert S.derive_arch(logits, TINY) == [["k5e2"], ["k3e2"], ["skip"], ["k5e2"]]
    with pytest.raises(ValueError, match="positions, candidates"):
        S.derive_arch(logits[:3], TINY)


def test_the_lut_predicts_fixed_plus_the_sum_of_the_chosen_entries(tmp_path):
    table = S.read_lut(_write(tmp_path / "lut.csv", _lut_rows(TINY)), TINY)
    arch = [["k3e2"], ["k5e2"], ["skip"], ["k5e2"]]
    assert np.isclose(table.predict(arch, TINY), 0.5 + 0.1 + 0.2 / 2 + 0.0 + 0.2 / 4)
    assert table.matrix(TINY).shape == (4, 3)
    assert (table.runtime, table.threads, table.machine) == ("ai-edge-litert test", 1, "test cpu")


def test_lut_errors_are_clear_value_errors(tmp_path):
    rows = _lut_rows(TINY)
    with pytest.raises(FileNotFoundError, match="search lut"):
        S.read_lut(tmp_path / "absent.csv")
    with pytest.raises(ValueError, match="lacks the columns"):
        S.read_lut(_write(tmp_path / "a.csv", rows, columns=("part", "candidate", "median_ms")))
    bad = [dict(r) for r in rows]
    bad[2]["median_ms"] = "-1"
    with pytest.raises(ValueError, match="finite number >= 0"):
        S.read_lut(_write(tmp_path / "b.csv", bad))
    bad[2]["median_ms"] = "fast"
    with pytest.raises(ValueError, match="must be numbers"):
        S.read_lut(_write(tmp_path / "c.csv", bad))
    with pytest.raises(ValueError, match="second entry"):
        S.read_lut(_write(tmp_path / "d.csv", rows + rows[1:2]))
    with pytest.raises(ValueError, match="exactly one 'fixed' row"):
        S.read_lut(_write(tmp_path / "e.csv", rows[1:]))
    with pytest.raises(ValueError, match="no entry for"):
        S.read_lut(_write(tmp_path / "f.csv", rows[:-1]), TINY)
    with pytest.raises(ValueError, match="mixes runtimes"):
        S.read_lut(_write(tmp_path / "g.csv", rows[:3] + _lut_rows(TINY, threads="2")[3:]))
    with pytest.raises(ValueError, match="another width"):
        S.read_lut(_write(tmp_path / "h.csv", rows), S.SearchSpace(8, (1, 1, 1, 1), 32, TINY.candidates))
    bad = [dict(r) for r in rows]
    bad[1]["candidate"] = "k3x2"
    with pytest.raises(ValueError, match="block code"):
        S.read_lut(_write(tmp_path / "i.csv", bad))


def test_search_space_checks_its_arguments_and_splits_codes_by_stage():
    assert TINY.stage_shapes() == [(8, 8, 4), (4, 4, 8), (2, 2, 16), (1, 1, 32)]
    space = S.SearchSpace()
    assert space.arch(["k3e2"] * 10) == [["k3e2"] * 2, ["k3e2"] * 2, ["k3e2"] * 4, ["k3e2"] * 2]
    with pytest.raises(ValueError, match="expected 10 block codes"):
        space.arch(["k3e2"] * 9)
    with pytest.raises(ValueError, match="multiple of 32"):
        S.SearchSpace(input_size=100)
    with pytest.raises(ValueError, match="4 integers"):
        S.SearchSpace(positions=(2, 2, 2))
    with pytest.raises(ValueError, match="block code"):
        S.SearchSpace(candidates=("k3e2", "conv"))


@pytest.mark.slow
def test_a_tiny_search_runs_two_steps_and_writes_a_valid_json(tmp_path, monkeypatch):
    lut = _write(tmp_path / "lut.csv", _lut_rows(SMALLEST))
    rng = np.random.default_rng(0)
    task = (rng.uniform(size=(8, 32, 32, 3)).astype("float32"), rng.integers(0, 4, 8))
    out = tmp_path / "search.json"
    result = S.search(SMALLEST, lut, latency_weight=0.5, epochs=1, batch_size=4, steps_per_epoch=2, measure=False,
                      task=task, out=out, progress=False, kernel_initializer="zeros")
    data = S.read_search(out)
    assert data["arch"] == result["arch"] and len(data["alpha"]) == SMALLEST.num_positions
    assert np.allclose(np.sum(data["probabilities"], axis=1), 1.0, atol=1e-3)
    assert data["latency_weight"] == 0.5 and data["measured_ms"] is None
    assert np.isclose(data["predicted_ms"], S.read_lut(lut, SMALLEST).predict(data["arch"], SMALLEST), atol=1e-3)
    # the study reads the arch from results/search.json of the working directory
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="search run"):
        recipe("quadranet_search", "searched")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "search.json").write_text(out.read_text())
    options = recipe("quadranet_search", "searched")["backbone_options"]
    assert options == {"width": SMALLEST.width, "arch": data["arch"], "norm": "batch"}


def test_a_search_result_with_a_bad_arch_is_a_clear_error(tmp_path):
    path = tmp_path / "search.json"
    path.write_text(json.dumps({"space": TINY.to_dict(), "arch": [["k3e2"], ["k5e2"], ["skip"]]}))
    with pytest.raises(ValueError, match="expected 4 block codes"):
        S.read_search(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        S.read_search(path)
    path.write_text(json.dumps({"space": TINY.to_dict()}))
    with pytest.raises(ValueError, match="no 'arch'"):
        S.read_search(path)


def test_the_supernet_has_one_mix_per_position_and_builds_the_backbones_stem():
    keras.utils.set_random_seed(0)
    model = S.build_supernet(TINY, image_size=32, kernel_initializer="zeros")
    assert [layer.name for layer in S.mix_layers(model)] == [f"stage{s}_pos0_mix" for s in (1, 2, 3, 4)]
    assert S.architecture_logits(model).shape == (4, 3)
    assert model.get_layer("stem_conv").kernel.shape == (4, 4, 3, TINY.width)
    assert model(np.zeros((2, 32, 32, 3), "float32")).shape == (2, 4)
