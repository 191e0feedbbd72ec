"""The ELAN (YOLOv7, YOLOv7-tiny) and VoVNet backbones of the registry: strides, widths, parameter counts
pinned against the official cfgs / the reference code, the planned VoVNet, multipliers, .keras round trip."""
import math

import keras
import numpy as np
import pytest

from kerasgp import backbones
from kerasgp.backbones.vovnet import VARIANTS

# Backbone sections of WongKinYiu/yolov7 cfg/training/yolov7.yaml and yolov7-tiny.yaml, transcribed row by
# row as (from, module, *args): Conv args are (out_channels, kernel, stride). Counted with a small
# re-implementation of the cfg parser below, they give the reference parameter counts and widths.
def _elan(c, out):
    return [(-1, "Conv", c, 1, 1), (-2, "Conv", c, 1, 1)] + [(-1, "Conv", c, 3, 1)] * 4 + [
        ([-1, -3, -5, -6], "Concat"), (-1, "Conv", out, 1, 1)]


def _mp(c):
    return [(-1, "MP"), (-1, "Conv", c, 1, 1), (-3, "Conv", c, 1, 1), (-1, "Conv", c, 3, 2), ([-1, -3], "Concat")]


def _tiny(c, out):
    leaky = [(-1, "Conv", c, 1, 1), (-2, "Conv", c, 1, 1), (-1, "Conv", c, 3, 1), (-1, "Conv", c, 3, 1)]
    return leaky + [([-1, -2, -3, -4], "Concat"), (-1, "Conv", out, 1, 1)]


YOLOV7_BACKBONE = ([(-1, "Conv", 32, 3, 1), (-1, "Conv", 64, 3, 2), (-1, "Conv", 64, 3, 1), (-1, "Conv", 128, 3, 2)]
                   + _elan(64, 256)                  # 4-11
                   + _mp(128) + _elan(128, 512)      # 12-24
                   + _mp(256) + _elan(256, 1024)     # 25-37
                   + _mp(512) + _elan(256, 1024))    # 38-50
YOLOV7_FEATURES = {"stride4": 11, "stride8": 24, "stride16": 37, "stride32": 50}
YOLOV7_TINY_BACKBONE = ([(-1, "Conv", 32, 3, 2), (-1, "Conv", 64, 3, 2)]
                        + _tiny(32, 64)                          # 2-7
                        + [(-1, "MP")] + _tiny(64, 128)          # 8-14
                        + [(-1, "MP")] + _tiny(128, 256)         # 15-21
                        + [(-1, "MP")] + _tiny(256, 512))        # 22-28
YOLOV7_TINY_FEATURES = {"stride4": 7, "stride8": 14, "stride16": 21, "stride32": 28}


def _parse_cfg(rows):
    """Channels, strides and trainable parameters (conv weights + BN gamma/beta) of each cfg row."""
    channels, strides, params = [], [], 0
    for i, (source, module, *args) in enumerate(rows):
        def at(f):
            j = i + f if f < 0 else f
            return (3, 1) if j < 0 else (channels[j], strides[j])

        if module == "Conv":
            (c_in, s_in), (c_out, k, s) = at(source), args
            params += c_in * c_out * k * k + 2 * c_out
            channels.append(c_out)
            strides.append(s_in * s)
        elif module == "MP":
            c_in, s_in = at(source)
            channels.append(c_in)
            strides.append(s_in * 2)
        else:
            inputs = [at(f) for f in source]
            assert len({s for _, s in inputs}) == 1, f"row {i} concatenates maps of different strides"
            channels.append(sum(c for c, _ in inputs))
            strides.append(inputs[0][1])
    return channels, strides, params


def _trainable(model):
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def _feature_shapes(model):
    return {k: tuple(v.shape[1:]) for k, v in model.output.items()}


@pytest.mark.parametrize("name,rows,layers", [("elan", YOLOV7_BACKBONE, YOLOV7_FEATURES),
                                              ("elan_tiny", YOLOV7_TINY_BACKBONE, YOLOV7_TINY_FEATURES)])
def test_elan_backbones_match_the_official_cfg(name, rows, layers):
    channels, strides, params = _parse_cfg(rows)
    model = backbones.get(name, input_shape=(64, 64, 3))
    assert _trainable(model) == params
    assert _feature_shapes(model) == {k: (64 // strides[i], 64 // strides[i], channels[i]) for k, i in layers.items()}
    assert {k: strides[i] for k, i in layers.items()} == {"stride4": 4, "stride8": 8, "stride16": 16, "stride32": 32}


def _vovnet_reference_params(stage_channels, concat_channels, blocks, width=1.0, layers=5, num_classes=1000):
    """Trainable parameters of stigma0617/VoVNet.pytorch's VoVNet (conv + BN gamma/beta, then the linear
    classifier), counted from its config: stem 3->64->64->128, then per OSA module L 3x3 convs and a 1x1;
    every width times `width`, rounded up to a multiple of 8."""
    def conv(c_in, c_out, k):
        return c_in * c_out * k * k + 2 * c_out

    def w(c):
        return math.ceil(c * width / 8) * 8

    total = conv(3, w(64), 3) + conv(w(64), w(64), 3) + conv(w(64), w(128), 3)
    c_in = w(128)
    for s, c, n in zip(map(w, stage_channels), map(w, concat_channels), blocks):
        for _ in range(n):
            total += conv(c_in, s, 3) + (layers - 1) * conv(s, s, 3) + conv(c_in + layers * s, c, 1)
            c_in = c
    return total + c_in * num_classes + num_classes


@pytest.mark.slow
@pytest.mark.parametrize("variant,width", [("27_slim", 0.125), ("39", 1.0), ("57", 1.0)])
def test_vovnet_matches_the_reference_code_parameter_count(variant, width):
    model = backbones.get("vovnet", variant=variant, width=width, include_top=True, input_shape=(224, 224, 3))
    assert _trainable(model) == _vovnet_reference_params(**VARIANTS[variant], width=width)
    assert model.output.shape[-1] == 1000


@pytest.mark.parametrize("name", ["elan", "elan_tiny", "vovnet", "vovnet_planned"])
def test_each_backbone_builds_at_64_with_maps_at_strides_4_to_32(name):
    model = backbones.get(name, width=0.125, input_shape=(64, 64, 3))
    shapes = _feature_shapes(model)
    assert list(shapes) == ["stride4", "stride8", "stride16", "stride32"]
    assert [s[:2] for s in shapes.values()] == [(16, 16), (8, 8), (4, 4), (2, 2)]


def _transitions(model):
    return sorted(layer.name for layer in model.layers
                  if isinstance(layer, keras.layers.Conv2D) and layer.name.endswith("_transition"))


def test_planned_vovnet_differs_only_in_the_number_of_transitions():
    per_module = backbones.get("vovnet", width=0.125, input_shape=(64, 64, 3))
    planned = backbones.get("vovnet_planned", width=0.125, input_shape=(64, 64, 3))
    # VoVNet-39: (1, 1, 2, 2) OSA modules -> six transitions per module, four when only a stage's last keeps one
    assert _transitions(per_module) == ["stage2_osa1_transition", "stage3_osa1_transition", "stage4_osa1_transition",
                                        "stage4_osa2_transition", "stage5_osa1_transition", "stage5_osa2_transition"]
    assert _transitions(planned) == ["stage2_osa1_transition", "stage3_osa1_transition", "stage4_osa2_transition",
                                     "stage5_osa2_transition"]
    assert _feature_shapes(per_module) == _feature_shapes(planned)  # every stage still ends at concat_channels
    same_3x3 = [layer.name for layer in per_module.layers if isinstance(layer, keras.layers.Conv2D)
                and layer.kernel_size == (3, 3)]
    assert same_3x3 == [layer.name for layer in planned.layers if isinstance(layer, keras.layers.Conv2D)
                        and layer.kernel_size == (3, 3)]
    # at w = 0.125, stage 4 takes 64 channels (stage 3's 512 w) and its modules make 5 x 24 (192 w): the
    # module after an untransitioned one takes the whole concat, the other plan its 768 w transition
    assert planned.get_layer("stage4_osa2_conv1").input.shape[-1] == 64 + 5 * 24
    assert per_module.get_layer("stage4_osa2_conv1").input.shape[-1] == 96


def test_plans_coincide_with_one_module_per_stage():
    a = backbones.get("vovnet", variant="27_slim", width=0.125, input_shape=(32, 32, 3))
    b = backbones.get("vovnet", variant="27_slim", plan="planned", width=0.125, input_shape=(32, 32, 3))
    assert _trainable(a) == _trainable(b) and len(_transitions(a)) == len(_transitions(b)) == 4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["elan", "elan_tiny", "vovnet"])
def test_width_and_depth_raise_the_parameter_count_monotonically(name):
    def params(width, depth):
        return _trainable(backbones.get(name, width=width, depth=depth, input_shape=(32, 32, 3)))

    by_width = [params(w, 1.0) for w in (0.125, 1.0)]  # widths the other tests build too (fewer new shapes)
    by_depth = [params(0.125, 0.5), by_width[0], params(0.125, 1.5)]
    assert by_width == sorted(set(by_width)) and by_depth == sorted(set(by_depth))


def test_depth_sets_the_number_of_3x3_pairs_and_osa_modules():
    def count_3x3(model, prefix):
        return sum(1 for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
                   and layer.name.startswith(prefix) and layer.kernel_size == (3, 3))

    elan = backbones.get("elan", width=0.125, depth=1.5, input_shape=(32, 32, 3))
    assert count_3x3(elan, "stage3_elan_conv") == 6  # three pairs, yolov7x.yaml's depth
    assert elan.output["stride8"].shape[-1] == 5 * 16  # transition = concat width, as yolov7x (5c)
    shallow = backbones.get("elan", width=0.125, depth=0.2, input_shape=(32, 32, 3))
    assert count_3x3(shallow, "stage3_elan_conv") == 2  # at least one pair
    vov = backbones.get("vovnet", width=0.125, depth=2.0, input_shape=(32, 32, 3))
    assert len(_transitions(vov)) == 2 * (1 + 1 + 2 + 2)


def test_width_rounds_channels_up_to_multiples_of_eight():
    model = backbones.get("elan_tiny", width=0.125, input_shape=(32, 32, 3))
    assert model.get_layer("stem_conv1").filters == 8  # 32 x 0.125 = 4, rounded up
    assert [v.shape[-1] for v in model.output.values()] == [16, 16, 32, 64]  # 2 x (8, 8, 16, 32)


@pytest.mark.slow
def test_divisor_sets_the_multiple_channels_round_up_to():
    # elan at width 0.26: stem 32 x 0.26 = 8.3 -> 12 with divisor 4 (16 with 8); ELAN c = 64 x 0.26 = 16.6
    # -> 20, so stage 2's 4c output is 80 (96 with 8).
    four = backbones.get("elan", width=0.26, divisor=4, input_shape=(32, 32, 3))
    eight = backbones.get("elan", width=0.26, input_shape=(32, 32, 3))
    assert (four.get_layer("stem_conv1").filters, eight.get_layer("stem_conv1").filters) == (12, 16)
    assert (four.output["stride4"].shape[-1], eight.output["stride4"].shape[-1]) == (80, 96)
    with pytest.raises(ValueError, match="divisor must be a positive integer, got 0"):
        backbones.get("elan_tiny", divisor=0)


def test_include_top_gives_logits():
    for name in ("elan", "elan_tiny", "vovnet_planned"):
        model = backbones.get(name, width=0.125, include_top=True, num_classes=7, input_shape=(32, 32, 3))
        assert tuple(model.output.shape) == (None, 7)


def test_bad_options_are_errors():
    with pytest.raises(ValueError, match="width must be a positive number, got 0"):
        backbones.get("elan", width=0)
    with pytest.raises(ValueError, match="depth must be a positive number"):
        backbones.get("vovnet", depth=-1.0)
    with pytest.raises(ValueError, match="variant must be one of"):
        backbones.get("vovnet", variant="99")
    with pytest.raises(ValueError, match="plan must be one of"):
        backbones.get("vovnet", plan="dense")
    with pytest.raises(ValueError, match="residual=True needs plan='per_module'"):
        backbones.get("vovnet_planned", residual=True)
    with pytest.raises(ValueError, match="padding must be one of"):
        backbones.get("elan_tiny", padding="reflect")


def test_residual_vovnet_adds_an_identity_to_each_module_after_a_stages_first():
    model = backbones.get("vovnet", width=0.125, residual=True, input_shape=(32, 32, 3))
    adds = sorted(layer.name for layer in model.layers if isinstance(layer, keras.layers.Add))
    assert adds == ["stage4_osa2_residual", "stage5_osa2_residual"]


@pytest.mark.parametrize("name,options", [("elan", {}), ("elan_tiny", {"padding": "symmetric"}),
                                          ("vovnet", {"residual": True})])
def test_backbones_round_trip_through_a_keras_file_in_safe_mode(tmp_path, name, options):
    model = backbones.get(name, width=0.125, input_shape=(32, 32, 3), **options)
    model.save(tmp_path / "b.keras")
    again = keras.saving.load_model(tmp_path / "b.keras", safe_mode=True)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    before, after = model(x), again(x)
    for key in before:
        assert np.array_equal(keras.ops.convert_to_numpy(before[key]), keras.ops.convert_to_numpy(after[key]))
