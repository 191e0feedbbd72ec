"""The QuadraNet backbone (kerasgp.backbones.quadranet): the official models' parameter counts, the feature
maps, the searchable `arch`, its .keras round trip and its TFLite int8 conversion."""
import keras
import numpy as np
import pytest

from kerasgp import backbones
from kerasgp.backbones.quadranet import arch_from_string, arch_to_string, parse_block_code, quadranet, uniform_arch

TINY = {"width": 8, "depths": (1, 1, 1, 1), "input_shape": (64, 64, 3)}


def _block_params(channels, kernel_size, expansion):
    # norms 2C + 2C, three dw filters 3 (k^2 C + C), 1x1s eC^2 + eC + eC^2 + C, gammas 2C
    return 4 * channels + 3 * (kernel_size ** 2 + 1) * channels + 2 * expansion * channels ** 2 + \
        expansion * channels + 3 * channels


@pytest.mark.slow
def test_official_quadranet_tiny36_dw_has_23_598_824_parameters():
    model = backbones.get("quadranet_tiny36", include_top=True, num_classes=1000, input_shape=(224, 224, 3))
    assert model.count_params() == 23_598_824


@pytest.mark.slow
def test_official_quadranet_base_dw36_has_90_450_408_parameters():
    model = backbones.get("quadranet_base36", include_top=True, num_classes=1000, input_shape=(224, 224, 3))
    assert model.count_params() == 90_450_408


@pytest.mark.slow
def test_feature_maps_are_the_four_stages_at_strides_4_to_32():
    model = backbones.get("quadranet", **TINY)
    features = model(np.zeros((2, 64, 64, 3), "float32"))
    shapes = {name: tuple(features[name].shape) for name in features}
    assert shapes == {"stride4": (2, 16, 16, 8), "stride8": (2, 8, 8, 16), "stride16": (2, 4, 4, 32),
                      "stride32": (2, 2, 2, 64)}


def test_the_layout_is_the_official_stem_downsamplers_and_head():
    model = quadranet(width=8, depths=(1, 0, 0, 0), include_top=True, num_classes=10, input_shape=(32, 32, 3))
    assert model.get_layer("stem_conv").kernel_size == (4, 4) and model.get_layer("stem_conv").strides == (4, 4)
    assert model.get_layer("down2_conv").kernel_size == (2, 2) and model.get_layer("down4_conv").filters == 64
    assert isinstance(model.get_layer("head_norm"), keras.layers.LayerNormalization)
    assert model.get_layer("stage1_block0_norm1").epsilon == pytest.approx(1e-6)
    # stem 3*16*8 + 8 + LN 16; downsamplers 2C + 4 C (2C) + 2C; one block; head LN 128 + 64*10 + 10
    stem = 3 * 16 * 8 + 8 + 16
    downsamplers = sum(2 * c + 4 * c * 2 * c + 2 * c for c in (8, 16, 32))
    assert model.count_params() == stem + downsamplers + _block_params(8, 7, 4) + 128 + 64 * 10 + 10


def test_arch_overrides_depths_and_a_skip_position_holds_no_block():
    full = quadranet(width=8, arch=[["k7e4", "k3e2"], ["k5e4"], [], ["k3e4"]], input_shape=(32, 32, 3))
    skipped = quadranet(width=8, arch=[["k7e4", "skip"], ["k5e4"], ["skip"], ["k3e4"]], input_shape=(32, 32, 3))
    assert full.count_params() - skipped.count_params() == _block_params(8, 3, 2)
    assert "stage1_block1_quadconv" not in {layer.name for layer in skipped.layers}
    assert skipped.get_layer("stage2_block0_quadconv").kernel_size == 5
    assert skipped.get_layer("stage4_block0_pwconv1").filters == 4 * 64
    uniform = quadranet(width=8, arch=uniform_arch((1, 2, 1, 1), 5, 2), input_shape=(32, 32, 3))
    assert uniform.count_params() == quadranet(width=8, depths=(1, 2, 1, 1), kernel_size=5, expansion=2,
                                               input_shape=(32, 32, 3)).count_params()


def test_block_codes_parse_and_archs_round_trip_through_strings():
    assert parse_block_code("k5e2") == (5, 2) and parse_block_code("k7e4") == (7, 4)
    assert parse_block_code("skip") is None
    arch = [["k7e4", "skip"], ["k3e2"], [], ["k5e4", "k5e4"]]
    assert arch_to_string(arch) == "k7e4,skip|k3e2||k5e4,k5e4"
    assert arch_from_string(arch_to_string(arch)) == arch


def test_bad_archs_and_options_are_errors_that_say_what_was_expected():
    with pytest.raises(ValueError, match="block code is 'k<kernel>e<expansion>'"):
        parse_block_code("k5x2")
    with pytest.raises(ValueError, match="block code"):
        quadranet(width=8, arch=[["k7e4"], ["conv3"], [], []])
    with pytest.raises(ValueError, match="list of 4 lists"):
        quadranet(width=8, arch=[["k7e4"], ["k3e2"], ["k3e2"]])
    with pytest.raises(ValueError, match="each stage of arch must be a list"):
        quadranet(width=8, arch=["k7e4", ["k3e2"], [], []])
    with pytest.raises(ValueError, match="4 stages split by"):
        arch_from_string("k7e4|k3e2")
    with pytest.raises(ValueError, match="depths must be 4 integers"):
        quadranet(width=8, depths=(1, 1, 1))
    with pytest.raises(ValueError, match="norm must be one of"):
        quadranet(width=8, norm="group")
    with pytest.raises(ValueError, match="width must be"):
        quadranet(width=0)


def test_a_tiny_quadranet_round_trips_through_a_keras_file_in_safe_mode(tmp_path):
    model = quadranet(width=8, arch=[["k3e2"], ["skip", "k5e2"], [], ["k3e4"]], norm="batch", layer_scale=0.5,
                      input_shape=(32, 32, 3))
    model.save(tmp_path / "quadranet.keras")
    again = keras.saving.load_model(tmp_path / "quadranet.keras", safe_mode=True)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    want, got = model(x), again(x)
    for name in ("stride4", "stride8", "stride16", "stride32"):
        assert np.array_equal(keras.ops.convert_to_numpy(want[name]), keras.ops.convert_to_numpy(got[name]))


tensorflow_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                     reason="conversion runs in TensorFlow; under JAX/torch it would only add a "
                                            "TensorFlow subprocess (tested in test_deploy.py)")


@pytest.mark.tflite
@tensorflow_only
def test_batch_norm_quadranet_converts_to_int8_with_builtins_only():
    from kerasgp.deploy import convert, run_tflite

    rng = np.random.default_rng(1)
    # layer_scale 0.5, so that the quadratic branches weigh in the output (at 1e-6 they would vanish)
    model = quadranet(norm="batch", layer_scale=0.5, **TINY)
    calibration = rng.uniform(0, 1, (8, 64, 64, 3)).astype("float32")
    conversion = convert(model, "int8", representative=calibration, num_samples=8)
    report = conversion.op_report
    assert report["float_ops"] == [] and report["quantize_ops"] == []
    assert {row["dtype"] for row in report["ops"]} == {"int8"}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "MUL", "GELU"} <= {row["op"] for row in report["ops"]}
    want = keras.ops.convert_to_numpy(model(calibration[:4])["stride32"]).ravel()
    got = run_tflite(conversion, calibration[:4])["stride32"].ravel()  # a dict model's outputs come back by name
    assert np.corrcoef(want, got)[0, 1] > 0.98


@pytest.mark.tflite
@tensorflow_only
def test_layer_norm_quadranet_converts_but_leaves_part_of_each_layer_norm_in_float():
    # Measured (TF 2.21): the LayerNorm is decomposed into MEAN, SQUARED_DIFFERENCE, RSQRT, MUL, ADD (int8) but
    # one NEG per LayerNorm stays float32, wrapped in a DEQUANTIZE/QUANTIZE pair: 12 LayerNorms here (stem,
    # 3 downsamplers, 2 per block), so 12 float ops and 24 quantize ops. BatchNorm needs none of that.
    from kerasgp.deploy import convert

    model = quadranet(norm="layer", **TINY)
    calibration = np.random.default_rng(2).uniform(0, 1, (8, 64, 64, 3)).astype("float32")
    report = convert(model, "int8", representative=calibration, num_samples=8).op_report
    layer_norms = sum(isinstance(layer, keras.layers.LayerNormalization) for layer in model.layers)
    assert layer_norms == 12
    assert len(report["float_ops"]) >= 1 and len(report["quantize_ops"]) >= 2
    # every op left in float comes from a LayerNorm (their layers are named *_norm, *_norm1, *_norm2)
    assert all("norm" in line.split("->")[-1] for line in report["float_ops"]), report["float_ops"]
