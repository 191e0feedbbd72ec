"""ShuffleNetV2's guideline benchmarks (kerasgp.experiments.guidelines): the networks against NumPy
references, the FLOPs/MAC arithmetic the tables rest on, and the runner's CSV (no timing assertions)."""
import keras
import numpy as np
import pandas as pd
import pytest

from kerasgp.analysis import cost
from kerasgp.experiments import guidelines as G
from kerasgp.experiments.guidelines.timing import _interleaved, _round_medians

SIZE = G.INPUT_SIZE


_COSTS = {}
BLOCKS = 1  # every ratio below is per block: 1 block instead of 10 keeps the file fast on every backend


def _cost(guideline, scale, widths="arm"):
    """{setting: CostReport} of one table column (one block), built once per test session."""
    key = (guideline, scale, widths)
    if key not in _COSTS:
        _COSTS[key] = {s.setting: cost(G.build(s, blocks=BLOCKS)) for s in G.settings(widths)
                       if s.guideline == guideline and s.scale == scale}
    return _COSTS[key]


def _macs(guideline, scale, widths="arm"):
    return {setting: report.macs for setting, report in _cost(guideline, scale, widths).items()}


def _spread(values):
    values = list(values)
    return max(values) / min(values)


# ------------------------------------------------------------------------------------------ settings

def test_settings_cover_every_cell_of_the_four_tables():
    assert len(G.SETTINGS) == (4 + 4 + 5 + 4) * len(G.SCALES)
    for guideline, spec in G.PAPER.items():
        labels = [s.setting for s in G.SETTINGS if s.guideline == guideline and s.scale == 1]
        assert labels == list(spec["settings"])
        for cell in spec["settings"].values():
            assert len(cell["gpu"]) == len(cell["arm"]) == len(G.SCALES)


def test_the_gpu_column_widths_are_the_papers_and_scales_double_them():
    gpu = {(s.guideline, s.setting, s.scale): s.kwargs for s in G.settings("gpu")}
    assert gpu[("G1", "1:12", 1)] == {"c1": 36, "c2": 432}
    assert gpu[("G2", "g=8", 1)] == {"channels": 360, "groups": 8}
    assert gpu[("G3", "4-fragment-parallel", 4)]["channels"] == 512
    arm = {(s.guideline, s.setting, s.scale): s.kwargs for s in G.SETTINGS}
    assert arm[("G1", "1:2", 2)] == {"c1": 44, "c2": 88}
    assert arm[("G4", "neither", 4)] == {"channels": 128, "relu": False, "shortcut": False}
    with pytest.raises(ValueError, match="widths must be one of"):
        G.settings("tpu")


def test_g1_flops_are_the_papers_channel_products_and_fixed_within_its_rounding():
    # The paper's integer pairs fix c1*c2 only within ~5.5% (1024, 968, 1014, 972 at ARM x1); 2% is not
    # reachable with them, so the bound is the pairs' own spread.
    for widths in G.WIDTHS:
        macs = _macs("G1", 1, widths)
        for label, value in macs.items():
            c1, c2 = G.PAPER["G1"]["settings"][label][f"{widths}_width"]
            assert value == BLOCKS * 2 * SIZE * SIZE * c1 * c2
        assert _spread(macs.values()) < 1.06


def test_g2_flops_are_fixed_across_group_counts():
    assert _spread(_macs("G2", 2).values()) < 1.02  # c = 128, 180, 256, 360 (the GPU column's x1)
    # ARM x1 asks for c=180 at g=8, which 8 groups cannot split: 184 is built, FLOPs +3.3%.
    assert [s.kwargs["channels"] for s in G.SETTINGS if s.guideline == "G2" and s.scale == 1] == [64, 90, 128, 184]
    macs = _macs("G2", 1)
    assert all(abs(value / macs["g=1"] - 1) < 0.04 for value in macs.values())


def test_g1_memory_access_is_smallest_at_equal_widths_and_grows_with_the_ratio():
    for scale in (1, 2):
        access = [report.memory_access for report in _cost("G1", scale).values()]
        assert access == sorted(access) and access[0] < access[1]


def test_g2_memory_access_grows_with_the_group_count():
    access = [report.memory_access for report in _cost("G2", 2).values()]
    assert access == sorted(access) and len(set(access)) == 4


def test_g3_series_and_parallel_blocks_of_one_fragment_count_have_equal_macs():
    for scale in (1, 2):
        macs = _macs("G3", scale)
        for n in (2, 4):
            assert abs(macs[f"{n}-fragment-series"] / macs[f"{n}-fragment-parallel"] - 1) < 0.02
        assert _spread(macs.values()) < 1.02  # all at the 1-fragment block's FLOPs (Table 3's caption)


def test_g3_widths_equalise_flops_by_the_square_root_in_series_and_by_splitting_in_parallel():
    assert G.g3_widths(4, "series", 64) == (32, 32)
    assert G.g3_widths(2, "series", 64) == (45, 45)
    assert G.g3_widths(4, "parallel", 64) == (64, 16)
    model = G.g3_model(4, "parallel", 64, blocks=3, size=8)
    concats = [layer for layer in model.layers if isinstance(layer, keras.layers.Concatenate)]
    assert len(concats) == 3 and model.output_shape == (1, 8, 8, 64)


def test_g4_variants_have_equal_conv_macs_and_the_elementwise_ones_more_layers():
    variants = {s.setting: G.build(s, blocks=BLOCKS) for s in G.SETTINGS if s.guideline == "G4" and s.scale == 1}
    assert len({cost(m).macs for m in variants.values()}) == 1
    layers = {name: len(m.layers) for name, m in variants.items()}
    assert layers["relu+shortcut"] > layers["relu"] > layers["shortcut"] > layers["neither"]
    adds = [sum(isinstance(layer, keras.layers.Add) for layer in m.layers) for m in variants.values()]
    assert adds == [BLOCKS, 0, BLOCKS, 0]


def test_builders_refuse_widths_they_cannot_build():
    with pytest.raises(ValueError, match="divisible by groups"):
        G.g2_model(90, 4)
    with pytest.raises(ValueError, match="divisible by fragments"):
        G.g3_model(4, "parallel", 66)
    with pytest.raises(ValueError, match="arrangement must be"):
        G.g3_model(2, "diagonal", 64)
    with pytest.raises(ValueError, match="channels/expansion"):
        G.g4_model(30)
    with pytest.raises(ValueError, match="positive integer"):
        G.g1_model(0, 32)


# ------------------------------------------------------------------------- networks vs NumPy references

def _kernel(model, name):
    return keras.ops.convert_to_numpy(model.get_layer(name).kernel)


def _pointwise(x, kernel, groups=1):
    # kernel (1, 1, C_in/groups, C_out): group g reads its slice of the input and writes its slice of the output
    width_in, width_out = kernel.shape[2], kernel.shape[3] // groups
    return np.concatenate([x[..., g * width_in:(g + 1) * width_in] @ kernel[0, 0, :, g * width_out:(g + 1) * width_out]
                           for g in range(groups)], axis=-1)


def _conv3x3_same(x, kernel):
    height, width = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return sum(padded[:, i:i + height, j:j + width] @ kernel[i, j] for i in range(3) for j in range(3))


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x))


def test_g1_and_g2_networks_match_numpy():
    x = np.random.default_rng(0).normal(size=(1, 6, 6, 8)).astype("float32")
    model = G.g1_model(8, 16, blocks=2, size=6)
    y = x
    for i in range(2):
        y = _pointwise(_pointwise(y, _kernel(model, f"block{i}_conv1")), _kernel(model, f"block{i}_conv2"))
    assert np.allclose(_predict(model, x), y, rtol=1e-4, atol=1e-5)
    model = G.g2_model(8, 4, blocks=3, size=6)
    y = x
    for i in range(3):
        y = _pointwise(y, _kernel(model, f"block{i}_gconv"), groups=4)
    assert np.allclose(_predict(model, x), y, rtol=1e-4, atol=1e-5)


def test_g3_parallel_network_concatenates_its_branches_like_numpy():
    x = np.random.default_rng(1).normal(size=(1, 5, 5, 8)).astype("float32")
    model = G.g3_model(2, "parallel", 8, blocks=2, size=5)
    y = x
    for i in range(2):
        y = np.concatenate([_pointwise(y, _kernel(model, f"block{i}_branch{j}")) for j in range(2)], axis=-1)
    assert np.allclose(_predict(model, x), y, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("relu,shortcut", [(True, True), (True, False), (False, True), (False, False)])
def test_g4_bottleneck_matches_numpy(relu, shortcut):
    x = np.random.default_rng(2).normal(size=(1, 6, 6, 8)).astype("float32")
    model = G.g4_model(8, relu=relu, shortcut=shortcut, blocks=2, size=6)
    act = (lambda t: np.maximum(t, 0)) if relu else (lambda t: t)
    y = x
    for i in range(2):
        z = act(_pointwise(y, _kernel(model, f"block{i}_conv1")))
        z = act(_conv3x3_same(z, _kernel(model, f"block{i}_conv2")))
        z = _pointwise(z, _kernel(model, f"block{i}_conv3"))
        y = act(y + z if shortcut else z)
    assert np.allclose(_predict(model, x), y, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------------- runner

# Conversion under JAX or torch goes through a TensorFlow subprocess per model (kerasgp.deploy's tests
# cover it); here TFLite is timed under the TensorFlow backend only, to keep the file fast.
RUNTIMES = ("keras", "tflite-float32") if keras.backend.backend() == "tensorflow" else ("keras",)


@pytest.fixture(scope="module")
def g4_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("guidelines") / "guidelines.csv"
    return G.run(guidelines=("G4",), scales=(1,), runtimes=RUNTIMES, runs=2, warmup=1, out=out, progress=False), out


@pytest.fixture(scope="module")
def g4_keras(g4_run):
    frame, out = g4_run
    return frame[frame["runtime"] == "keras"].reset_index(drop=True), out


def test_run_returns_the_documented_columns_and_writes_the_csv(g4_run):
    frame, out = g4_run
    assert list(frame.columns) == list(G.COLUMNS)
    assert len(frame) == 4 * len(RUNTIMES) and set(frame["runtime"]) == set(RUNTIMES) and set(frame["scale"]) == {1}
    assert (frame["median_ms"] > 0).all() and (frame["images_per_s"] > 0).all()
    first = frame[frame["setting"] == "relu+shortcut"]
    assert (first["relative_speed"] == 1.0).all() and (first["paper_arm_relative"] == 1.0).all()
    neither = frame[frame["setting"] == "neither"].iloc[0]
    assert neither["paper_arm_images_per_s"] == 66.3 and neither["paper_gpu_batches_per_s"] == 2842
    assert neither["paper_arm_relative"] == round(66.3 / 56.7, 3) and (frame["macs_ratio"] == 1.0).all()
    keras_rows = frame[frame["runtime"] == "keras"]
    assert keras_rows["runtime_package"].str.startswith("keras").all()
    again = pd.read_csv(out)
    assert len(again) == len(frame) and list(again.columns) == list(G.COLUMNS)


@pytest.mark.skipif("tflite-float32" not in RUNTIMES, reason="TFLite is timed under the TensorFlow backend here")
def test_run_times_the_tflite_conversion_with_one_thread(g4_run):
    frame, _ = g4_run
    tflite = frame[frame["runtime"] == "tflite-float32"]
    assert len(tflite) == 4 and (tflite["threads"] == 1).all()
    assert tflite["runtime_package"].str.contains("litert|tflite|tensorflow").all()
    assert tflite["xnnpack"].isin([True, False]).all()


def test_table_is_shaped_like_the_papers(g4_keras):
    frame, _ = g4_keras
    speeds = G.table(frame, "G4")
    assert list(speeds.index) == list(G.PAPER["G4"]["settings"])
    assert list(speeds.columns) == [("keras", "x1"), ("paper GPU (batches/s)", "x1"), ("paper ARM (images/s)", "x1")]
    assert speeds.loc["relu", ("paper ARM (images/s)", "x1")] == 61.9
    ratios = G.table(frame, "G4", "relative_speed")
    assert (ratios.loc["relu+shortcut"] == 1.0).all()
    with pytest.raises(ValueError, match="no rows for G1"):
        G.table(frame, "G1")


def test_plot_draws_one_panel_per_guideline(g4_keras):
    from matplotlib.figure import Figure

    frame, _ = g4_keras
    figure = G.plot(frame)
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    assert len(figure.axes[0].lines) == 4  # one line per setting for the one runtime
    two = pd.concat([frame, frame.assign(guideline="G1", setting="1:1")])
    assert len(G.plot(two).axes) == 2
    with pytest.raises(ValueError, match="one axis holds one guideline"):
        G.plot(two, ax=figure.axes[0])


def test_run_refuses_unknown_guidelines_scales_and_runtimes(tmp_path):
    for kwargs, match in (({"guidelines": ("G5",)}, "guidelines must be"), ({"scales": (3,)}, "scales must be"),
                          ({"runtimes": ("onnx",)}, "runtimes must be"), ({"runs": 0}, "runs must be")):
        with pytest.raises(ValueError, match=match):
            G.run(**kwargs, out=tmp_path / "never.csv", progress=False)
    assert not (tmp_path / "never.csv").exists()


def test_cli_passes_its_lists_to_run_and_prints_the_tables(g4_keras, tmp_path, capsys, monkeypatch):
    from kerasgp.cli import main

    frame, _ = g4_keras
    calls = []
    monkeypatch.setattr(G, "run", lambda **kwargs: calls.append(kwargs) or frame)  # the timing is tested above
    code = main(["guidelines", "--only", "g4", "--scales", "1", "--runtimes", "keras", "--runs", "7",
                 "--out", str(tmp_path / "cli.csv"), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert calls == [{"guidelines": ("G4",), "scales": (1,), "runtimes": ("keras",), "runs": 7,
                      "out": str(tmp_path / "cli.csv"), "progress": False, "widths": "arm"}]
    assert "G4, Table 4" in printed and "paper ARM" in printed and "relu+shortcut" in printed
    assert main(["guidelines", "--scales", "one", "--out", ""]) == 2
    assert "comma-separated list" in capsys.readouterr().err


def test_settings_take_turns_in_rounds_and_report_the_median_of_the_rounds():
    order = []
    calls = {key: (lambda key=key: order.append(key), {"threads": 1}) for key in ("a", "b")}
    timings = _interleaved(calls, runs=7, warmup=4, rounds=3)
    assert order[:8] == ["a"] * 4 + ["b"] * 4  # the warm-up, then 3 rounds of 2 runs, the order rotated
    assert order[8:] == ["a", "a", "b", "b", "b", "b", "a", "a", "a", "a", "b", "b"]
    assert timings["a"]["runs"] == 6 and timings["a"]["threads"] == 1 and timings["a"]["median_ms"] >= 0
    ms = np.array([[1.0, 1.0, 9.0], [5.0, 5.0, 5.0], [2.0, 2.0, 2.0]])  # (rounds, runs)
    assert _round_medians(ms) == {"median_ms": 2.0, "p90_ms": 5.0, "runs": 9}
