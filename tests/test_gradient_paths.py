"""Gradient path analysis (Wang et al. 2022) on hand-worked graphs: every expected number below is
derived in the comment beside it, lengths counted in weighted layers (convs and dense), the layer itself
included."""
import keras
import matplotlib
import pandas as pd
import pytest

from kerasgp.analysis import GradientPathReport, gradient_paths

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def zero_kernels(monkeypatch):
    """The analysis reads the graph, never the weights. Under JAX each new kernel shape compiles a random
    initializer (about half a second each on 2 cores: 20 s for ResNet50), so kernels start at zero here."""
    monkeypatch.setattr(keras.initializers.VarianceScaling, "__call__",
                        lambda self, shape, dtype=None: keras.ops.zeros(shape, dtype=dtype))


def conv(x, name, filters=4, kernel_size=1):
    return keras.layers.Conv2D(filters, kernel_size, padding="same", name=name)(x)


def conv_bn_relu(x, name, filters=4):
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(conv(x, name, filters))
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def residual_block(x, name):
    y = conv_bn_relu(x, f"{name}_a")
    y = conv_bn_relu(y, f"{name}_b")
    return keras.layers.Add(name=f"{name}_add")([x, y])


def test_a_plain_chain_has_one_path_and_one_timestamp_per_layer():
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for i in range(4):
        x = conv_bn_relu(x, f"conv{i}")
    report = gradient_paths(keras.Model(inputs, x))
    table = report.per_layer.set_index("layer")
    assert list(table.index) == ["conv0", "conv1", "conv2", "conv3"]  # BN and ReLU are not counted
    assert list(table["shortest"]) == list(table["longest"]) == [4, 3, 2, 1]
    assert list(table["timestamps"]) == [(4,), (3,), (2,), (1,)]
    assert list(table["num_paths"]) == [1, 1, 1, 1] and list(table["num_sources"]) == [1, 1, 1, 1]
    assert list(table["depth_from_input"]) == [1, 2, 3, 4]
    assert report.depth == 4 and report.max_longest == 4 and report.mean_shortest == 2.5


def test_a_residual_block_gives_its_input_layer_a_short_path_through_the_identity():
    inputs = keras.Input((8, 8, 3))
    x = conv_bn_relu(inputs, "stem")
    x = residual_block(x, "block")
    report = gradient_paths(keras.Model(inputs, x))
    stem = report.row("stem")
    # stem -> block_a -> block_b -> loss (3) or stem -> identity -> loss (1)
    assert (stem["shortest"], stem["longest"], stem["num_paths"]) == (1, 3, 2)
    assert stem["timestamps"] == (1, 3)
    assert stem["num_sources"] == 2  # block_a, and the output through the identity
    assert report.row("block_a")["timestamps"] == (2,)
    assert report.depth == 3


def test_a_dense_block_gives_its_first_layer_every_timestamp():
    # DenseNet: layer i reads the concat of all earlier outputs; the block outputs the concat of all.
    inputs = keras.Input((8, 8, 3))
    features = [conv(inputs, "x0")]
    for i in range(1, 4):
        joined = features[0] if i == 1 else keras.layers.Concatenate(name=f"cat{i}")(features)
        features.append(conv(joined, f"x{i}"))
    outputs = keras.layers.Concatenate(name="block_out")(features)
    report = gradient_paths(keras.Model(inputs, outputs))
    x0 = report.row("x0")
    # paths from x0: any subset of {x1, x2, x3} taken in order, then the loss: 2**3 paths of 1..4 layers
    assert x0["num_paths"] == 8
    assert x0["timestamps"] == (1, 2, 3, 4)
    assert x0["num_sources"] == 4  # x1, x2, x3 and the output
    assert report.row("x1")["num_paths"] == 4 and report.row("x3")["timestamps"] == (1,)


def elan_block(x, name):
    """YOLOv7's ELAN: two 1x1 branches, four chained 3x3 convs, concat of outputs [-1, -3, -5, -6]."""
    b1, b2 = conv(x, f"{name}_b1"), conv(x, f"{name}_b2")
    c1 = conv(b2, f"{name}_c1", kernel_size=3)
    c2 = conv(c1, f"{name}_c2", kernel_size=3)
    c3 = conv(c2, f"{name}_c3", kernel_size=3)
    c4 = conv(c3, f"{name}_c4", kernel_size=3)
    joined = keras.layers.Concatenate(name=f"{name}_cat")([c4, c2, b2, b1])
    return conv(joined, f"{name}_transition")


def test_an_elan_block_keeps_every_shortest_path_short():
    inputs = keras.Input((8, 8, 3))
    x = conv(inputs, "stem")
    report = gradient_paths(keras.Model(inputs, elan_block(x, "elan")))
    stem = report.row("stem")
    # stem -> b1 -> transition (3); stem -> b2 -> transition (3); via c1, c2 (5); via c1..c4 (7)
    assert (stem["shortest"], stem["longest"], stem["num_paths"]) == (3, 7, 4)
    assert stem["timestamps"] == (3, 5, 7)
    assert report.row("elan_c1")["timestamps"] == (3, 5)
    assert report.row("elan_c3")["timestamps"] == (3,)
    assert report.max_shortest == 3  # no layer is more than 3 weighted layers from the loss
    assert report.depth == 7


def test_a_nested_model_gives_the_same_numbers_as_its_flattened_twin():
    inputs = keras.Input((8, 8, 3))
    x = residual_block(conv_bn_relu(inputs, "stem"), "block1")
    flat = keras.Model(inputs, keras.layers.Dense(5, name="fc")(keras.layers.GlobalAveragePooling2D(name="pool")(
        residual_block(x, "block2"))), name="flat")

    backbone_in = keras.Input((8, 8, 4))
    backbone = keras.Model(backbone_in, residual_block(residual_block(backbone_in, "block1"), "block2"),
                           name="backbone")
    inputs = keras.Input((8, 8, 3))
    y = backbone(conv_bn_relu(inputs, "stem"))
    nested = keras.Model(inputs, keras.layers.Dense(5, name="fc")(keras.layers.GlobalAveragePooling2D(name="pool")(y)))

    flat_table, nested_table = gradient_paths(flat).per_layer, gradient_paths(nested).per_layer
    pd.testing.assert_frame_equal(flat_table, nested_table)
    assert flat_table.set_index("layer").loc["stem", "timestamps"] == (2, 4, 6)


def test_a_kerasgp_pose_model_is_analysed_through_its_backbone():
    from kerasgp.pose.estimator import build_pose_model

    model = build_pose_model("shufflenet_v2_x0.5", input_size=(64, 64), num_joints=4)
    report = gradient_paths(model)
    table = report.per_layer.set_index("layer")
    assert "stem_conv" in table.index and "simcc_x" in table.index  # the backbone's layers are expanded
    assert report.outputs == ("simcc_x", "simcc_y") and table.loc["stem_conv", "num_outputs"] == 2
    assert table.loc["stem_conv", "longest"] == report.depth  # the stem starts the longest path
    assert table.loc["simcc_joint_maps", "timestamps"] == (2,)  # joint maps -> x or y linear layer


def test_a_sub_model_output_the_outer_model_does_not_use_receives_no_gradient():
    backbone_in = keras.Input((8, 8, 3))
    shared = conv(backbone_in, "shared")
    backbone = keras.Model(backbone_in, {"used": conv(shared, "used"), "unused": conv(shared, "unused")})
    inputs = keras.Input((8, 8, 3))
    report = gradient_paths(keras.Model(inputs, conv(backbone(inputs)["used"], "head")))
    table = report.per_layer.set_index("layer")
    assert table.loc["unused", "num_paths"] == 0 and pd.isna(table.loc["unused", "shortest"])
    assert table.loc["unused", "timestamps"] == ()
    assert table.loc["shared", "timestamps"] == (3,) and table.loc["shared", "num_sources"] == 1
    assert "1 layer(s) receive no gradient" in report.summary()


def test_dict_outputs_are_all_gradient_sources_of_the_loss():
    inputs = keras.Input((8, 8, 3))
    trunk = conv(inputs, "trunk")
    outputs = {"near": conv(trunk, "near_head"), "far": conv(conv(trunk, "far_mid"), "far_head")}
    report = gradient_paths(keras.Model(inputs, outputs))
    trunk_row = report.row("trunk")
    assert set(report.outputs) == {"near", "far"}
    assert trunk_row["num_outputs"] == 2 and trunk_row["num_sources"] == 2
    assert trunk_row["timestamps"] == (2, 3) and trunk_row["num_paths"] == 2
    assert report.row("far_mid")["num_outputs"] == 1


def test_resnet50_first_conv_spans_the_whole_depth_but_reaches_the_loss_in_six_layers():
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3))
    report = gradient_paths(model)
    table = report.per_layer.set_index("layer")
    # 1 stem conv + 16 bottlenecks x 3 convs + 4 projection shortcuts = 53 convs, and the fc layer
    assert len(table) == 54 and list(table["type"]).count("Dense") == 1
    # longest: stem + every block's 3 convs + fc = 1 + 48 + 1; the projections sit beside a block's convs
    assert table.loc["conv1_conv", "longest"] == report.depth == 50
    # shortest: stem, then the projection of each of the 4 stages' first block, identities elsewhere, fc
    assert table.loc["conv1_conv", "shortest"] == 6
    assert table.loc["conv1_conv", "num_paths"] == 2**16  # two ways through each of 16 blocks
    # 7 would need 2 * (projection blocks taken through their convs) + 3 * (identity blocks) == 1
    assert 7 not in table.loc["conv1_conv", "timestamps"]
    # conv2_block1_3_conv's gradient arrives directly from the next two blocks and from stage 3's two convs
    assert table.loc["conv2_block1_3_conv", "num_sources"] == 4
    assert table.loc["predictions", "timestamps"] == (1,)


class StopGradientStandIn(keras.layers.Layer):
    def call(self, x):
        return keras.ops.stop_gradient(x)


StopGradientStandIn.__name__ = "StopGradient"  # detection is by class name, whichever module defines it


def _stop_gradient_layers():
    layers = [StopGradientStandIn]
    try:
        from kerasgp.layers.gradient import StopGradient
        layers.append(StopGradient)
    except ImportError:  # the package's layer is optional here; the stand-in has the same class name
        pass
    return layers


@pytest.mark.parametrize("layer_class", _stop_gradient_layers())
def test_a_stop_gradient_on_the_identity_cuts_the_short_path(layer_class):
    inputs = keras.Input((8, 8, 3))
    x = conv(inputs, "stem")
    y = conv(conv(x, "branch_a"), "branch_b")
    model = keras.Model(inputs, keras.layers.Add()([layer_class(name="stop")(x), y]))
    stem = gradient_paths(model).row("stem")
    assert (stem["timestamps"], stem["num_paths"], stem["num_sources"]) == ((3,), 1, 1)
    stem = gradient_paths(model, respect_stop_gradient=False).row("stem")
    assert (stem["timestamps"], stem["num_paths"]) == ((1, 3), 2)


def test_keras_ops_stop_gradient_in_a_functional_model_also_cuts_the_path():
    inputs = keras.Input((8, 8, 3))
    x = conv(inputs, "stem")
    model = keras.Model(inputs, conv(keras.ops.stop_gradient(conv(x, "middle")), "head"))
    table = gradient_paths(model).per_layer.set_index("layer")
    assert list(table["num_paths"]) == [0, 0, 1]
    assert gradient_paths(model, respect_stop_gradient=False).row("stem")["timestamps"] == (3,)


def test_count_and_weighted_only_choose_what_is_a_layer_and_what_is_reported():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, conv_bn_relu(conv_bn_relu(inputs, "c1"), "c2"))
    with_norm = gradient_paths(model, count=("conv", "norm"))
    assert with_norm.row("c1")["timestamps"] == (4,)  # c1, c1_bn, c2, c2_bn
    assert list(with_norm.per_layer["type"]).count("BatchNormalization") == 2
    every_call = gradient_paths(model, weighted_only=False)
    assert len(every_call.per_layer) == 6
    assert every_call.row("c1_relu")["timestamps"] == (1,)  # a ReLU counts only the weighted layers after it
    only_last = gradient_paths(model, count=lambda layer: layer.name == "c2")
    assert only_last.row("c2")["depth_from_input"] == 1 and only_last.depth == 1
    with pytest.raises(ValueError, match="count must be"):
        gradient_paths(model, count=("conv", "pixels"))


def test_path_counts_beyond_int64_stay_exact():
    inputs = keras.Input((4, 4, 4))
    x = conv(inputs, "stem")
    for i in range(64):  # 64 one-conv residual units: 2**64 paths from the stem, more than int64 holds
        x = keras.layers.Add(name=f"add{i}")([x, conv(x, f"unit{i}")])
    report = gradient_paths(keras.Model(inputs, x))
    stem = report.row("stem")
    assert stem["num_paths"] == 2**64 and isinstance(stem["num_paths"], int)
    assert stem["timestamps"] == tuple(range(1, 66)) and report.depth == 65


def test_a_layer_called_twice_gives_one_row_per_call():
    inputs = keras.Input((8, 8, 4))
    shared = keras.layers.Conv2D(4, 1, name="shared")
    model = keras.Model(inputs, conv(shared(shared(inputs)), "head"))
    table = gradient_paths(model).per_layer
    assert list(table["layer"]) == ["shared", "shared#2", "head"]
    assert list(table["longest"]) == [3, 2, 1]


def test_a_sequential_model_and_a_nested_sequential_are_walked():
    stack = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="s1"),
                              keras.layers.ReLU(), keras.layers.Conv2D(4, 3, name="s2")], name="stack")
    assert gradient_paths(stack).row("s1")["longest"] == 2
    inputs = keras.Input((8, 8, 3))
    outer = keras.Model(inputs, keras.layers.Flatten()(stack(inputs)))
    assert list(gradient_paths(outer).per_layer["layer"]) == ["s1", "s2"]


def test_a_model_without_a_graph_is_an_error():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="needs a Functional Keras model"):
        gradient_paths(Subclassed())


def test_summary_and_plot_describe_the_report():
    inputs = keras.Input((8, 8, 3))
    report = gradient_paths(keras.Model(inputs, residual_block(conv(inputs, "stem"), "block"), name="tiny"))
    assert isinstance(report, GradientPathReport)
    text = report.summary()
    assert "tiny" in text and "depth (longest gradient path of the network): 3" in text
    ax = report.plot()
    assert len(ax.lines) == 2 and list(ax.lines[1].get_ydata()) == [1, 2, 1]  # shortest: stem, block_a, block_b
    matplotlib.pyplot.close("all")


def stem_blocks_head(num_blocks, residual):
    """conv stem, `num_blocks` two-conv blocks (residual or plain), 1x1 conv head."""
    inputs = keras.Input((8, 8, 4))
    x = conv(inputs, "stem")
    for i in range(num_blocks):
        x = residual_block(x, f"block{i}") if residual else conv_bn_relu(conv_bn_relu(x, f"block{i}_a"), f"block{i}_b")
    return keras.Model(inputs, conv(x, "head"))


@pytest.mark.parametrize("num_blocks", [1, 2, 3, 5])
def test_stacking_residual_blocks_lengthens_only_the_longest_path_and_plain_blocks_lengthen_both(num_blocks):
    # The paper's rule (Sec. 3, layer level): each residual block adds its two convs to the stem's longest
    # path, while the identities keep its shortest path at stem + head = 2. A plain block has no identity,
    # so both paths grow by two.
    residual = gradient_paths(stem_blocks_head(num_blocks, residual=True)).row("stem")
    plain = gradient_paths(stem_blocks_head(num_blocks, residual=False)).row("stem")
    assert (residual["shortest"], residual["longest"]) == (2, 2 + 2 * num_blocks)
    assert plain["shortest"] == plain["longest"] == 2 + 2 * num_blocks


def osa_stack(num_modules, planned):
    from kerasgp.layers import osa_module

    inputs = keras.Input((8, 8, 4))
    x = conv(inputs, "stem")
    for i in range(num_modules):
        last = i == num_modules - 1
        x = osa_module(x, 4, 8, layers_per_block=3, transition=last or not planned, name=f"osa{i}")
    return keras.Model(inputs, conv(x, "head"))


@pytest.mark.parametrize("num_modules", [1, 2, 4])
def test_each_osa_transition_lengthens_every_earlier_layers_shortest_path_by_one(num_modules):
    # An OSA module's concat passes its input straight to the 1x1 transition, so crossing a module costs
    # one layer (the transition) on the shortest path: adding a module with its transition lengthens the
    # shortest path of every layer before it by exactly one. The planned stack has one transition in all,
    # so adding modules leaves the earlier layers' shortest paths unchanged.
    def shortest(model):
        return gradient_paths(model).per_layer.set_index("layer")["shortest"]

    shorter = shortest(osa_stack(num_modules, planned=False)).drop("head")
    longer = shortest(osa_stack(num_modules + 1, planned=False))
    assert len(shorter) == 1 + 4 * num_modules and (longer[shorter.index] - shorter == 1).all()
    assert shorter["stem"] == 1 + num_modules + 1  # stem, each transition, head
    planned = shortest(osa_stack(num_modules, planned=True)).drop("head")
    planned_longer = shortest(osa_stack(num_modules + 1, planned=True))
    # (the shorter stack's one transition moves to the new last module, so compare the other layers)
    kept = [name for name in planned.index if not name.endswith("_transition")]
    assert (planned_longer[kept] == planned[kept]).all() and planned["stem"] == 3
    assert (planned_longer["osa0_conv1"], longer["osa0_conv1"]) == (3, 2 + num_modules + 1)
