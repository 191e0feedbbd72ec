"""The cost counter: hand-worked layers, the papers' published MACs, nested and dict-output models."""
import math

import keras
import pytest

from kerasgp import backbones
from kerasgp.analysis import CostReport, cost
from kerasgp.layers import ChannelShuffle, ChannelSplit, ScaleNorm


def _single(layer, input_shape):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, layer(inputs))


def _shapes_only(build, *args, **kwargs):
    """Build a model whose weights are never initialised: cost() needs only their shapes, and under jax
    initialising them is most of a large model's build time (one XLA compile per weight shape)."""
    from keras.src.backend.common import global_state

    with keras.StatelessScope(initialize_variables=False):
        model = build(*args, **kwargs)
    # Keras keeps a list of the deferred variables and initialises them when the next symbolic call
    # anywhere leaves its own StatelessScope: drop them, so no later test pays for them.
    global_state.set_global_attribute("uninitialized_variables", [])
    return model


def test_conv2d_counts_kernel_times_input_channels_per_output_element():
    report = cost(_single(keras.layers.Conv2D(8, 3, strides=2, padding="same"), (9, 9, 4)))
    out_h = out_w = 5
    assert report.macs == out_h * out_w * 8 * (3 * 3 * 4)
    assert report.params == 3 * 3 * 4 * 8 + 8
    assert report.memory_access == 9 * 9 * 4 + out_h * out_w * 8 + report.params
    assert report.activations == out_h * out_w * 8


def test_one_by_one_conv_memory_access_is_the_shufflenet_v2_formula():
    h, w, c1, c2 = 7, 6, 16, 24  # Ma et al. 2018, Sec. 2: MAC = hw(c1 + c2) + c1 c2
    report = cost(_single(keras.layers.Conv2D(c2, 1, use_bias=False), (h, w, c1)))
    assert report.memory_access == h * w * (c1 + c2) + c1 * c2
    assert report.macs == h * w * c1 * c2


def test_grouped_conv_divides_the_input_channels_by_the_groups():
    report = cost(_single(keras.layers.Conv2D(6, 3, groups=2, use_bias=False), (8, 8, 4)))
    assert report.macs == 6 * 6 * 6 * (3 * 3 * 4 // 2)
    assert report.params == 3 * 3 * (4 // 2) * 6
    assert report.memory_access == 8 * 8 * 4 + 6 * 6 * 6 + report.params


def test_depthwise_conv_counts_one_kernel_per_output_channel():
    report = cost(_single(keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), (6, 5, 3)))
    out_channels = 3 * 2
    assert report.macs == 6 * 5 * out_channels * 3 * 3
    assert report.params == 3 * 3 * 3 * 2 + out_channels
    assert report.memory_access == 6 * 5 * 3 + 6 * 5 * out_channels + report.params


def test_separable_conv_is_depthwise_plus_pointwise():
    report = cost(_single(keras.layers.SeparableConv2D(10, 3, use_bias=False), (7, 7, 4)))
    assert report.macs == 5 * 5 * 4 * 3 * 3 + 5 * 5 * 4 * 10
    assert report.params == 3 * 3 * 4 + 4 * 10


def test_dense_counts_every_position_of_a_sequence_input():
    report = cost(_single(keras.layers.Dense(5), (12,)))
    assert (report.macs, report.params, report.memory_access) == (12 * 5, 12 * 5 + 5, 12 + 5 + 65)
    report = cost(_single(keras.layers.Dense(5, use_bias=False), (7, 12)))
    assert report.macs == 7 * 12 * 5
    assert report.memory_access == 7 * 12 + 7 * 5 + 12 * 5


def test_transposed_conv_scatters_a_kernel_from_every_input_element():
    report = cost(_single(keras.layers.Conv2DTranspose(6, 4, strides=2, padding="same"), (5, 5, 3)))
    assert report.per_layer["output_shape"][0] == (1, 10, 10, 6)
    assert report.macs == 5 * 5 * 3 * 4 * 4 * 6
    assert report.params == 4 * 4 * 3 * 6 + 6
    assert report.memory_access == 5 * 5 * 3 + 10 * 10 * 6 + report.params


def test_einsum_dense_counts_the_product_of_every_index():
    report = cost(_single(keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 7)), (3, 5)))
    assert report.macs == 1 * 3 * 5 * 7
    report = cost(_single(keras.layers.EinsumDense("...b,bc->...c", output_shape=7), (4, 3, 5)))
    assert report.macs == 4 * 3 * 5 * 7


def test_multi_head_attention_counts_projections_and_both_attention_products():
    def build():
        query, value = keras.Input((5, 6)), keras.Input((9, 8))
        layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
        return keras.Model([query, value], layer(query, value))

    report = cost(_shapes_only(build))
    heads, dim = 2, 4
    projections = 5 * 6 * heads * dim + 9 * 8 * heads * dim * 2 + 5 * heads * dim * 6  # q, k and v, output
    attention = 5 * 9 * heads * dim * 2  # QK^T, then the scores times V
    assert report.macs == projections + attention


def test_weightless_and_elementwise_layers_cost_no_macs_by_default():
    inputs = keras.Input((4, 4, 8))
    x = keras.layers.BatchNormalization()(inputs)
    x = keras.layers.ReLU()(x)
    a, b = ChannelSplit()(ChannelShuffle(2)(x))
    x = keras.layers.Add()([a, b])
    x = ScaleNorm()(keras.layers.Reshape((16, 4))(x))
    report = cost(keras.Model(inputs, x))
    assert report.macs == 0
    assert list(report.per_layer["type"]) == ["BatchNormalization", "ReLU", "ChannelShuffle", "ChannelSplit",
                                              "Add", "Reshape", "ScaleNorm"]
    split = report.per_layer.iloc[3]
    assert split["output_shape"] == [(1, 4, 4, 4), (1, 4, 4, 4)]
    assert split["activations"] == 2 * 4 * 4 * 4


def test_an_embedding_lookup_has_weights_but_no_macs():
    inputs = keras.Input((5,), dtype="int32")
    report = cost(keras.Model(inputs, keras.layers.Embedding(100, 8)(inputs)))
    assert (report.macs, report.params, report.activations) == (0, 100 * 8, 5 * 8)


def test_count_elementwise_adds_one_mac_per_output_element():
    inputs = keras.Input((4, 4, 8))
    x = keras.layers.BatchNormalization()(inputs)
    x = keras.layers.Conv2D(8, 1, activation="relu", use_bias=False)(x)
    x = keras.layers.Add()([x, inputs])
    report = cost(keras.Model(inputs, x), count_elementwise=True)
    elements = 4 * 4 * 8
    assert report.macs == elements + (elements * 8 + elements) + elements  # BN, conv + its ReLU, add
    assert cost(keras.Model(inputs, x)).macs == elements * 8


def test_a_shared_layer_counts_its_weights_once_and_its_reads_every_call():
    inputs = keras.Input((3, 3, 4))
    conv = keras.layers.Conv2D(4, 1, use_bias=False)
    report = cost(keras.Model(inputs, conv(conv(inputs))))
    assert report.params == 16
    assert report.per_layer["params"].tolist() == [16, 0]
    assert report.macs == 2 * 9 * 4 * 4
    assert report.memory_access == 2 * (9 * 4 + 9 * 4 + 16)


@pytest.fixture(scope="module")
def applications():
    # Slow to build under jax and torch: each model once for the whole module.
    return {"resnet50": cost(_shapes_only(keras.applications.ResNet50, weights=None)),
            "mobilenet_v2": cost(_shapes_only(keras.applications.MobileNetV2, weights=None))}


def test_resnet50_costs_3_86_gmacs(applications):
    # Measured: 3,857,973,248 MACs on all three backends. Keras keeps ResNet v1's stride in the first
    # 1x1 conv of a stage; torchvision's v1.5 puts it in the 3x3 and is the often-quoted 4.1 G.
    assert applications["resnet50"].macs == pytest.approx(3.86e9, rel=0.02)


def test_mobilenet_v2_costs_300_mmacs(applications):
    # Measured: 300,774,272 MACs (Sandler et al. 2018, Table 4: 300 M multiply-adds).
    assert applications["mobilenet_v2"].macs == pytest.approx(300e6, rel=0.02)


def test_totals_agree_with_keras_and_with_the_per_layer_rows(applications):
    report = applications["resnet50"]
    assert report.params == 25_636_712  # keras' count_params() for ResNet50
    assert report.trainable_params == 25_583_592
    assert report.per_layer["macs"].sum() == report.macs
    assert report.per_layer["params"].sum() == report.params
    assert report.per_layer["activations"].sum() == report.activations
    assert report.activation_bytes == 4 * report.activations
    assert list(report.per_layer.columns) == ["layer", "type", "output_shape", "params", "macs", "activations",
                                              "memory_access"]


@pytest.mark.parametrize("width,paper_macs", [(0.5, 41e6), (1.0, 146e6), (1.5, 299e6), (2.0, 591e6)])
def test_shufflenet_v2_matches_the_papers_table_5(width, paper_macs):
    # Measured: 40,476,448 / 144,907,992 / 295,759,392 / 583,253,464 MACs for 0.5 / 1.0 / 1.5 / 2.0.
    model = _shapes_only(backbones.get, "shufflenet_v2", width=width, include_top=True, input_shape=(224, 224, 3))
    report = cost(model)
    assert report.macs == pytest.approx(paper_macs, rel=0.03)
    assert report.per_layer["macs"].sum() == report.macs


def test_a_nested_backbone_costs_the_same_as_the_backbone_plus_the_extra_layers():
    body = _shapes_only(backbones.get, "shufflenet_v2_x0.5")  # built with None spatial dims, dict output
    inputs = keras.Input((None, None, 3))
    features = body(inputs)
    head = keras.layers.Conv2D(14, 1, name="head")(features["stride32"])
    outer = keras.Model(inputs, {"heatmaps": head, "conv5": features["conv5"]})
    report, alone = cost(outer, input_shape=(128, 96, 3)), cost(body, input_shape=(128, 96, 3))
    head_macs, head_params = 4 * 3 * 14 * 192, 192 * 14 + 14  # stride 32 of 128 x 96, 192 channels at 0.5x
    assert report.macs == alone.macs + head_macs
    assert report.params == alone.params + head_params
    assert report.activations == alone.activations + 4 * 3 * 14
    assert report.per_layer["layer"].iloc[0] == "shufflenet_v2_x0.5/stem_conv"
    assert report.per_layer["layer"].iloc[-1] == "head"


def test_input_shape_changes_the_macs_of_a_fully_convolutional_model():
    body = _shapes_only(backbones.get, "shufflenet_v2_x0.5", include_conv5=False)
    small, large = cost(body, input_shape=(64, 64, 3)), cost(body, input_shape=(128, 128, 3))
    assert large.macs == 4 * small.macs  # every layer is a conv: MACs scale with the pixel count
    assert large.params == small.params
    assert small.input_shape == (64, 64, 3)


def test_a_layer_with_weights_and_no_rule_raises_naming_it():
    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.scale

    with pytest.raises(ValueError, match="no MAC rule for layer 'my_scale' of class .*Scale"):
        cost(_single(Scale(name="my_scale"), (4, 4, 3)))

    class CountedScale(Scale):
        def macs(self, input_shapes, output_shapes):
            return math.prod(output_shapes)

    assert cost(_single(CountedScale(), (4, 4, 3))).macs == 4 * 4 * 3


def test_unknown_dimensions_and_wrong_shapes_are_errors():
    body = _shapes_only(backbones.get, "shufflenet_v2_x0.5", include_conv5=False)
    with pytest.raises(ValueError, match="unknown dimensions; pass input_shape"):
        cost(body)
    with pytest.raises(ValueError, match=r"takes inputs of shape \(None, None, 3\)"):
        cost(body, input_shape=(64, 64, 4))
    with pytest.raises(ValueError, match="Functional or Sequential"):
        cost(keras.layers.Dense(3))


def test_a_sequential_model_is_walked_like_a_functional_one():
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    assert cost(model).macs == 6 * 4 + 4 * 2


def test_report_totals_are_plain_ints_and_the_summary_uses_human_units():
    report = cost(_single(keras.layers.Conv2D(64, 3, padding="same"), (56, 56, 64)), bytes_per_element=1)
    assert isinstance(report, CostReport)
    totals = report.as_dict()
    assert set(totals) == {"params", "trainable_params", "macs", "activations", "activation_bytes",
                           "memory_access"}
    assert all(type(v) is int for v in totals.values())
    assert totals["activation_bytes"] == totals["activations"] == 56 * 56 * 64
    assert report.macs == 115_605_504
    assert "MACs          115.6 M" in report.summary()
