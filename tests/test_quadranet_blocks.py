"""The Table II harness (kerasgp.experiments.quadranet) at tiny sizes: the stored-state rule per block
against hand counts, a whole comparison written to CSV, and the command line."""
import csv

import keras
import pytest

from kerasgp.experiments.quadranet import COLUMNS, block_stack, compare_blocks, stored_for_backward

CHANNELS, SIZE = 32, 7  # 32 channels: one attention head of 32 and gnConv widths 8, 16, 32


@pytest.mark.parametrize("block,per_position", [
    ("conv", 12 * CHANNELS),  # dw input, norm input, 1x1 input, GELU input (4C), 1x1 input (4C), gamma input
    ("window_attention", 16 * CHANNELS + 1 * 49),  # + the softmax's probabilities, heads x 49 per position
    ("gnconv", 21 * CHANNELS),  # the gates (1.75C) and every step of the recursion come on top
    ("quadra", 16 * CHANNELS),  # two dw factors kept inside the quadratic conv, two norms, two gammas
    ("skip", 0),
])
def test_stored_states_per_block_match_the_hand_count(block, per_position):
    counts = [stored_for_backward(block_stack(block, CHANNELS, SIZE, depth))["elements"] for depth in (1, 2)]
    stem = CHANNELS * SIZE * SIZE  # the stem's norm keeps its input
    assert counts[0] == stem + per_position * SIZE * SIZE
    assert counts[1] - counts[0] == per_position * SIZE * SIZE  # each further block adds the same


def test_stored_states_need_a_rule_for_every_layer():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.MaxPool2D()(keras.layers.Conv2D(4, 3)(inputs)))
    with pytest.raises(ValueError, match="no rule for layer"):
        stored_for_backward(model)


@pytest.mark.tflite
@pytest.mark.slow
def test_comparison_writes_every_column_and_ratios_to_the_conv_block(tmp_path):
    out = tmp_path / "quadranet.csv"
    rows = compare_blocks(("conv", "window_attention"), channels=(CHANNELS,), size=SIZE, depth=1, batch=2,
                          rounds=1, tflite_runs=1, calibration=1, memory=False, out=out, progress=False)
    with open(out, newline="") as f:
        written = list(csv.DictReader(f))
    assert [row["block"] for row in written] == ["conv", "window_attention"]
    assert list(written[0]) == list(COLUMNS)
    conv, window = rows
    assert conv["stored_vs_conv"] == 1.0 and conv["train_vs_conv"] == 1.0
    assert window["stored_vs_conv"] > 1  # the attention probabilities come on top of the same MLP
    assert window["stored_for_backward"] > conv["stored_for_backward"]
    for row in rows:
        assert row["train_samples_per_s"] > 0 and row["infer_samples_per_s"] > 0
        assert row["tflite_note"].startswith("converted"), row["tflite_note"]  # both blocks convert to int8
        assert row["tflite_int8_ms"] > 0 and row["tflite_int8_builtin_ms"] > 0
        assert row["steps"] == 1 and row["load_start"] >= 0


@pytest.mark.slow
def test_measured_peak_memory_lands_in_the_row():
    (row,) = compare_blocks(("conv",), channels=(CHANNELS,), size=SIZE, depth=1, batch=4, rounds=1, tflite=False,
                            progress=False)
    assert row["peak_delta_mb"] is not None and row["stored_mb"] > 0
    assert row["peak_vs_stored"] == pytest.approx(row["peak_delta_mb"] / row["stored_mb"], rel=0.05)
    assert row.get("tflite_int8_ms") is None


@pytest.mark.slow
def test_command_line_writes_the_csv(tmp_path):
    from kerasgp.cli import main

    out = tmp_path / "blocks.csv"
    code = main(["quadranet-blocks", "--out", str(out), "--size", str(SIZE), "--channels", str(CHANNELS),
                 "--depth", "1", "--batch", "2", "--rounds", "1", "--blocks", "conv,skip", "--no-memory",
                 "--no-tflite", "--no-progress"])
    assert code == 0
    with open(out, newline="") as f:
        assert [row["block"] for row in csv.DictReader(f)] == ["conv", "skip"]


def test_unknown_blocks_and_bad_counts_are_errors():
    with pytest.raises(ValueError, match="unknown block type 'mlp'"):
        compare_blocks(("conv", "mlp"), progress=False)
    with pytest.raises(ValueError, match="rounds must be an integer >= 1"):
        compare_blocks(("conv",), rounds=0, progress=False)
    with pytest.raises(ValueError, match="depth must be an integer >= 1"):
        block_stack("conv", depth=0)
