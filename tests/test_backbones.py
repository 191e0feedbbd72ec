"""The backbone registry, and parameter counts pinned against the reference implementations."""
import math

import keras
import numpy as np
import pytest

from kerasgp import backbones


def _trainable(model):
    return sum(math.prod(w.shape) for w in model.trainable_weights)


@pytest.mark.parametrize("width,params", [(0.5, 1_366_792), (1.0, 2_278_604), (1.5, 3_503_624), (2.0, 7_393_996)])
def test_shufflenet_v2_has_torchvisions_parameter_count(width, params):
    model = backbones.get("shufflenet_v2", width=width, include_top=True, input_shape=(224, 224, 3))
    assert _trainable(model) == params


@pytest.mark.slow
def test_mobilenet_v2_has_torchvisions_parameter_count():
    assert _trainable(backbones.get("mobilenet_v2", include_top=True, input_shape=(224, 224, 3))) == 3_504_872


def test_feature_maps_sit_at_their_strides():
    model = backbones.get("shufflenet_v2_x1.0", input_shape=(128, 96, 3))
    shapes = {k: tuple(v.shape[1:]) for k, v in model.output.items()}
    assert shapes == {"stride4": (32, 24, 24), "stride8": (16, 12, 116), "stride16": (8, 6, 232),
                      "stride32": (4, 3, 464), "conv5": (4, 3, 1024)}
    mobile = backbones.get("mobilenet_v2", input_shape=(64, 64, 3))
    assert {k: v.shape[1] for k, v in mobile.output.items()} == {"stride2": 32, "stride4": 16, "stride8": 8,
                                                                  "stride16": 4, "stride32": 2}


def test_megvii_order_changes_widths_only_where_a_stage_input_is_not_half_its_output():
    half = [backbones.get("shufflenet_v2_x0.5", block_order=o, input_shape=(64, 64, 3)) for o in ("torchvision", "megvii")]
    assert _trainable(half[0]) == _trainable(half[1])  # 24 -> 48: the widths coincide
    one = [backbones.get("shufflenet_v2_x1.0", block_order=o, input_shape=(64, 64, 3)) for o in ("torchvision", "megvii")]
    assert _trainable(one[0]) != _trainable(one[1])  # 24 -> 116: megvii keeps 24 in the projection branch


def test_symmetric_padding_keeps_the_output_size():
    for padding in ("same", "symmetric"):
        out = backbones.get("mobilenet_v2", padding=padding, input_shape=(65, 64, 3)).output["stride32"]
        assert tuple(out.shape[1:3]) == (3, 2)


def test_registry_errors_name_the_choices():
    with pytest.raises(ValueError, match="unknown backbone 'resnet9'"):
        backbones.get("resnet9")
    with pytest.raises(ValueError, match="width must be one of"):
        backbones.get("shufflenet_v2", width=0.75)
    with pytest.raises(ValueError, match="padding must be one of"):
        backbones.get("mobilenet_v2", padding="reflect")


def test_a_backbone_runs_on_an_image_batch():
    model = backbones.get("shufflenet_v2_x0.5", input_shape=(64, 64, 3))
    out = model.predict(np.zeros((2, 64, 64, 3), "float32"), verbose=0)
    assert out["conv5"].shape == (2, 2, 2, 1024)


def test_se_variant_adds_exactly_one_gate_per_unit():
    plain = backbones.get("shufflenet_v2_x1.0", input_shape=(64, 64, 3), include_conv5=False)
    se = backbones.get("shufflenet_v2_x1.0", se=True, input_shape=(64, 64, 3), include_conv5=False)
    expected = 0
    for channels, repeats in zip((116, 232, 464), (4, 8, 4)):
        branch = channels // 2  # the branch output of every unit (torchvision order)
        hidden = max(branch // 4, 8)
        expected += repeats * (branch * hidden + hidden + hidden * branch + branch)
    assert se.count_params() - plain.count_params() == expected
    assert sum(type(layer).__name__ == "Multiply" for layer in se.layers) == 16


def test_residual_variant_adds_an_identity_to_every_stride_one_unit_and_no_weights():
    plain = backbones.get("shufflenet_v2_x0.5", input_shape=(64, 64, 3))
    residual = backbones.get("shufflenet_v2_x0.5", residual=True, input_shape=(64, 64, 3))
    assert residual.count_params() == plain.count_params()
    adds = [layer.name for layer in residual.layers if type(layer).__name__ == "Add"]
    assert len(adds) == 3 + 7 + 3  # every unit but the first (stride 2) of each stage
    residual.set_weights(plain.get_weights())
    image = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype("float32")
    assert not np.allclose(keras.ops.convert_to_numpy(plain(image)["stride32"]),
                           keras.ops.convert_to_numpy(residual(image)["stride32"]))
