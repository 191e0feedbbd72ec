"""The references of the lessons' second exercises agree with the package: each check compares a learner's
answer with a reference, and these tests show the reference is what the package computes (the layer, the
metric, the target, the cost counter, the path analyser). Cheap: no lesson is executed."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from kerasgp.analysis import cost, gradient_paths
from kerasgp.backbones import blocks
from kerasgp.backbones.blocks import _residual
from kerasgp.backbones.shufflenet_v2 import shuffle_unit
from kerasgp.data import COCO17, LSP14, MPII16
from kerasgp.data.targets import heatmap_size, heatmap_targets
from kerasgp.data.transforms import apply_affine, crop_matrices, flip_joints
from kerasgp.exercises import course
from kerasgp.exercises.lesson00 import flip_keypoints_reference
from kerasgp.exercises.lesson01 import gaussian_heatmap_reference
from kerasgp.exercises.lesson02 import dense_stem_paths, residual_stem_paths
from kerasgp.exercises.lesson03 import _shortcut_cases, darknet_shortcut_reference
from kerasgp.exercises.lesson04 import csp_stage_macs_reference
from kerasgp.exercises.lesson05 import stem_paths_reference
from kerasgp.exercises.lesson06 import group_conv_memory_access
from kerasgp.exercises.lesson07 import shufflenet_unit_reference
from kerasgp.layers import (
    AsymmetricResidual,
    ChannelShuffle,
    ChannelSplit,
    csp_stage,
    elan_block,
    osa_module,
)
from kerasgp.layers.aggregation import conv_bn_act

SOLUTIONS = course.load_solutions()


# lesson 00's flip exercise: its reference is the pipeline's flip (crop_matrices(..., flips) then flip_joints).
@pytest.mark.backend_free
@pytest.mark.parametrize("layout,size", [(LSP14, (128, 128)), (MPII16, (96, 128)), (COCO17, (192, 256))])
def test_the_flip_reference_is_the_pipelines_flip(layout, size):
    rng = np.random.default_rng(layout.num_joints)
    image_points = rng.uniform(0, 400, size=(1, layout.num_joints, 2))
    visibility = rng.integers(0, 2, size=(1, layout.num_joints)).astype(np.float32)
    center, scale = np.array([[200.0, 210.0]]), np.array([[300.0, 400.0]])
    plain = apply_affine(image_points, crop_matrices(center, scale, size))
    # the pipeline: the flip folded into the crop matrix, then the left/right joints permuted
    mirrored = apply_affine(image_points, crop_matrices(center, scale, size, flips=[True]))
    points, flags = flip_joints(mirrored, visibility, np.array([True]), layout.flip_permutation())
    want_points, want_flags = flip_keypoints_reference(plain[0], visibility[0], size[0], layout.flip_pairs)
    np.testing.assert_allclose(points[0], want_points, atol=1e-3)
    assert np.array_equal(flags[0], want_flags)


# lesson 01's heatmap exercise: its reference is targets.heatmap_targets once the keypoint is in map cells.
@pytest.mark.backend_free
@pytest.mark.parametrize("input_size,stride,sigma", [((128, 128), 4, 1.0), ((96, 128), 2, 1.5), ((64, 48), 1, 2.0),
                                                     ((192, 256), 4, None)])
def test_the_heatmap_reference_is_the_packages_target(input_size, stride, sigma):
    map_w, map_h = heatmap_size(input_size, stride)
    rng = np.random.default_rng(stride)
    keypoints = rng.uniform(0, [input_size[0] - 1, input_size[1] - 1], size=(1, 5, 2)).astype(np.float32)
    maps = heatmap_targets(keypoints, np.ones((1, 5)), input_size, stride, sigma)  # (1, h, w, 5)
    used_sigma = 2.0 * map_w / 64.0 if sigma is None else sigma
    # UDP's rule: input pixel 0 -> cell 0, pixel W - 1 -> cell w - 1
    cells = keypoints[0] * np.array([(map_w - 1) / (input_size[0] - 1), (map_h - 1) / (input_size[1] - 1)])
    for k in range(5):
        np.testing.assert_allclose(maps[0, ..., k], gaussian_heatmap_reference(cells[k], (map_w, map_h), used_sigma),
                                   atol=1e-5)


# lesson 02's dense-block exercise: its reference is what the path analyser counts on the package's dense block.
@pytest.mark.parametrize("num_layers,convs", [(1, 1), (3, 1), (4, 2), (2, 2)])
def test_the_dense_block_reference_is_what_the_analyser_counts(num_layers, convs):
    image = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="stem")(image)
    # the package's DenseNet block; a 1x1 bottleneck before each 3x3 makes a layer of 2 convs (DenseNet-B)
    x = blocks.dense_block(x, 4, "dense", num_layers=num_layers, bottleneck_width=8 if convs == 2 else None)
    logits = keras.layers.Dense(2, name="fc")(keras.layers.GlobalAveragePooling2D()(x))
    row = gradient_paths(keras.Model(image, logits)).row("stem")
    assert (list(row["timestamps"]), int(row["num_paths"])) == dense_stem_paths(num_layers, convs)
    # the contrast the exercise draws: the same counts as a residual stack of as many units
    assert dense_stem_paths(num_layers, convs) == residual_stem_paths(num_layers, convs)


# lesson 03's darknet-shortcut exercise: its reference is the package's asymmetric shortcut, as the residual
def test_the_shortcut_reference_is_the_packages_asymmetric_residual_unit():
    for block_output, identity, stride in _shortcut_cases():
        x = keras.Input(identity.shape[1:])
        y = keras.Input(block_output.shape[1:])
        merged = _residual(x, y, block_output.shape[-1], stride, name="unit", residual="asymmetric", fraction=0.5,
                           stop_gradient=None)
        package = ops.convert_to_numpy(keras.Model([x, y], merged)([identity, block_output]))
        np.testing.assert_allclose(package, darknet_shortcut_reference(block_output, identity), atol=1e-6)


@pytest.mark.parametrize("size,stride", [(5, 2), (7, 3)])
def test_an_odd_map_samples_from_the_first_pixel_too(size, stride):
    # an odd-sized identity: the strided 3x3 conv of the block gives ceil(size / stride) pixels, as [::stride]
    rng = np.random.default_rng(size)
    identity = rng.normal(size=(1, size, size, 3)).astype(np.float32)
    out = -(-size // stride)
    block_output = rng.normal(size=(1, out, out, 5)).astype(np.float32)
    sampled = keras.layers.MaxPool2D(1, stride, padding="same")(identity)
    package = ops.convert_to_numpy(AsymmetricResidual()([block_output, sampled]))
    want = block_output.copy()
    want[..., :3] += identity[:, ::stride, ::stride]
    np.testing.assert_allclose(package, want, atol=1e-6)


# lesson 04's second exercise: its reference counts what kerasgp.analysis.cost counts on csp_stage.
@pytest.mark.parametrize("h,w,c,units", [(32, 32, 64, 2), (7, 9, 32, 1), (8, 8, 128, 3)])
def test_csp_stage_macs_reference_agrees_with_cost(h, w, c, units):
    image = keras.Input((h, w, c))
    plain = keras.Model(image, blocks.repeat("basic", units)(image, "full_block"))
    image = keras.Input((h, w, c))
    csp = keras.Model(image, csp_stage(image, blocks.repeat("basic", units), c, name="csp", split="slice",
                                       transition="csp"))
    assert (cost(plain).macs, cost(csp).macs) == csp_stage_macs_reference(h, w, c, units)


# lesson 05's second exercise: its reference is what kerasgp.analysis.gradient_paths counts on the lesson's
def stack_net(design, k, convs):  # lesson 05's stack_net, with `convs` 3x3 convs per unit
    image = keras.Input((32, 32, 3))
    x = conv_bn_act(image, 32, 3, 2, name="stem", activation="relu")
    x = keras.layers.MaxPool2D(2, name="stem_pool")(x)
    if design == "elan":
        x = elan_block(x, 16, "elan", num_pairs=k * convs // 2, out_channels=32, activation="relu")
    else:
        for i in range(1, k + 1):
            x = osa_module(x, 16, 32, convs, transition=design == "per_module" or i == k, name=f"osa{i}",
                           activation="relu")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(image, keras.layers.Dense(4, name="fc")(x))


@pytest.mark.parametrize("design,k,convs", [("per_module", 3, 5), ("planned", 3, 5), ("elan", 2, 4), ("elan", 3, 2),
                                            ("per_module", 1, 4), ("planned", 4, 2)])
def test_stem_paths_reference_agrees_with_the_analyser(design, k, convs):
    report = gradient_paths(stack_net(design, k, convs))
    stem = report.row("stem")
    shortest, longest = stem_paths_reference(design, k, convs)
    assert (int(stem["shortest"]), int(stem["longest"])) == (shortest, longest)
    assert report.max_shortest == shortest and report.depth == longest  # the stem is the farthest layer


# lesson 06's second exercise: its reference is what kerasgp.analysis.cost counts on a grouped 1x1 Conv2D.
@pytest.mark.parametrize("h,w,c1,c2,groups", [(56, 56, 64, 64, 1), (56, 56, 90, 90, 2), (28, 28, 64, 128, 4),
                                              (7, 9, 48, 24, 8), (14, 14, 232, 116, 4)])
def test_group_conv_memory_access_agrees_with_cost(h, w, c1, c2, groups):
    image = keras.Input((h, w, c1))
    model = keras.Model(image, keras.layers.Conv2D(c2, 1, groups=groups, use_bias=False)(image))
    assert cost(model).memory_access == group_conv_memory_access(h, w, c1, c2, groups)


# lesson 07's second exercise: its reference is the package's stride-1 shuffle_unit, in both block orders,
BRANCH = ("main_pw1", "main_pw1_bn", "main_pw1_relu", "main_dw", "main_dw_bn", "main_pw2", "main_pw2_bn",
          "main_pw2_relu")


@pytest.mark.parametrize("block_order", ["torchvision", "megvii"])
def test_shufflenet_unit_reference_agrees_with_shuffle_unit(block_order):
    channels, rng = 12, np.random.default_rng(0)
    image = keras.Input((5, 5, channels))
    unit = keras.Model(image, shuffle_unit(image, channels, 1, name="unit", block_order=block_order))
    for layer in unit.layers:  # BatchNorm statistics away from the identity, so the branch is no near-copy
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()])
    half = keras.Input((5, 5, channels // 2))
    y = half
    for name in BRANCH:  # the unit's own branch layers (shared weights), as a function of one half
        y = unit.get_layer(f"unit_{name}")(y)
    branch_model = keras.Model(half, y)
    branch = lambda h: ops.convert_to_numpy(branch_model(h.astype("float32")))
    x = rng.normal(size=(2, 5, 5, channels)).astype("float32")
    np.testing.assert_allclose(shufflenet_unit_reference(x, branch, block_order), ops.convert_to_numpy(unit(x)),
                               atol=1e-5)


@pytest.mark.parametrize("block_order", ["torchvision", "megvii"])
def test_shufflenet_unit_reference_agrees_with_the_layers(block_order):
    x = (np.arange(8) + 100 * np.arange(6)[:, None]).reshape(1, 2, 3, 8).astype("float32")
    branch = lambda h: -h[..., ::-1]
    kept, main = (ops.convert_to_numpy(t) for t in
                  ChannelSplit("even_odd" if block_order == "megvii" else "halves")(x))
    y = np.concatenate([kept, branch(main)], axis=-1)
    if block_order == "torchvision":
        y = ops.convert_to_numpy(ChannelShuffle(2)(y))
    np.testing.assert_array_equal(shufflenet_unit_reference(x, branch, block_order), y)


# lesson 08's XOR exercise: the check's logit is what QuadraticDense(1, rank=1) computes with those weights.


def test_the_xor_check_evaluates_the_neuron_as_quadratic_dense_does():
    from keras import ops

    from kerasgp.exercises.lesson08 import XOR_LABELS, XOR_POINTS, xor_logits
    from kerasgp.layers import QuadraticDense

    rng = np.random.default_rng(8)
    weights = [SOLUTIONS.xor_weights()] + [(rng.normal(size=2), rng.normal(size=2), rng.normal(size=2),
                                             float(rng.normal()))
                                        for _ in range(3)]
    for a, b, c, bias in weights:
        layer = QuadraticDense(1, rank=1)
        layer.build((None, 2))
        layer.set_weights([np.reshape(a, (1, 2, 1)), np.reshape(b, (1, 2, 1)), np.reshape(c, (2, 1)),
                           np.array([bias])])
        logits = ops.convert_to_numpy(layer(XOR_POINTS.astype("float32")))[:, 0]
        np.testing.assert_allclose(logits, xor_logits(np.asarray(a), np.asarray(b), np.asarray(c), bias), atol=1e-5)
    # the solution classifies XOR the way section 1 scores a model: sigmoid(logit) > 0.5 is class 1
    a, b, c, bias = SOLUTIONS.xor_weights()
    assert np.array_equal(1 / (1 + np.exp(-xor_logits(a, b, c, bias))) > 0.5, XOR_LABELS == 1)


# lesson 09's derived-latency exercise: the check's reference is derive_arch followed by LatencyTable.predict.


def test_the_derived_latency_reference_is_the_package_s_derive_and_predict():
    from kerasgp.exercises.lesson09 import derived_latency_reference
    from kerasgp.experiments import search as hw

    for space in (hw.SearchSpace(), hw.SearchSpace(width=16, positions=(1, 1, 1, 1),
                                                   candidates=("k3e2", "k5e2", "k7e2", "skip"))):
        rng = np.random.default_rng(space.num_positions)
        blocks = {(stage, code): (0.0 if code == "skip" else float(rng.uniform(0.05, 3.0)))
                  for stage in range(4) for code in space.candidates}
        table = hw.LatencyTable(fixed_ms=1.234, blocks=blocks)
        for _ in range(5):
            logits = rng.normal(0, 1.5, size=(space.num_positions, len(space.candidates)))
            package = table.predict(hw.derive_arch(logits, space), space)
            matrix = table.matrix(space)
            assert derived_latency_reference(logits, matrix, table.fixed_ms) == pytest.approx(package, rel=1e-12)
            assert SOLUTIONS.derived_latency(logits, matrix, table.fixed_ms) == pytest.approx(package, rel=1e-12)


# lesson 10's heatmap-decoding exercise: the check's reference is the package's heatmap decoder


def test_the_heatmap_decode_reference_is_the_package_s_decoder():
    from keras import ops

    from kerasgp.exercises.lesson10 import _gaussian_maps, heatmap_decode_reference
    from kerasgp.pose.decoding import HeatmapArgmax, decode_heatmaps

    rng = np.random.default_rng(10)
    cases = [(_gaussian_maps([(5.3, 7.6), (10.0, 3.0), (0.2, 4.4), (12.7, 11.0), (15.0, 0.0)], (16, 12)), (128, 96)),
             (rng.normal(size=(9, 7, 6)), (64, 80)), (rng.normal(size=(16, 16, 14)), (128, 128)),
             (rng.normal(size=(32, 24, 3)), (96, 128))]
    for maps, size in cases:
        maps = maps.astype("float32")  # the decoder works in float32
        reference = heatmap_decode_reference(maps, size)
        np.testing.assert_allclose(decode_heatmaps(maps[None], size)[0], reference, atol=1e-4)
        np.testing.assert_allclose(ops.convert_to_numpy(HeatmapArgmax(size)(maps[None]))[0], reference, atol=1e-4)
        np.testing.assert_allclose(SOLUTIONS.heatmap_decode(maps, size), reference, atol=1e-4)


def test_the_heatmap_decode_reference_recovers_the_targets_keypoints():
    from kerasgp.data import targets
    from kerasgp.exercises.lesson10 import heatmap_decode_reference

    # a keypoint drawn into the package's target map decodes back to within a quarter cell: the argmax is off by
    # up to half a cell, and the shift toward the higher neighbour halves that
    keypoints = np.random.default_rng(3).uniform(4, 120, size=(1, 14, 2)).astype("float32")
    maps = targets.heatmap_targets(keypoints, np.ones((1, 14)), (128, 128), stride=4)[0]
    cell = 127 / 31
    assert np.abs(heatmap_decode_reference(maps, (128, 128)) - keypoints[0]).max() <= 0.25 * cell + 1e-4


# lesson 11's cosine-logits exercise: the check's reference is what the CosineLinear layer computes.


def test_the_cosine_logits_reference_is_cosine_linear():
    from keras import ops

    from kerasgp.exercises.lesson11 import cosine_logits_reference
    from kerasgp.pose import CosineLinear

    rng = np.random.default_rng(11)
    for count, dim, bins, beta in ((3, 32, 10, 15.0), (5, 16, 40, 4.0), (4, 8, 6, 15.0)):
        tokens = rng.normal(size=(count, dim)).astype("float32")
        tokens[-1] = 0.0  # an all-zero token: the layer's epsilon gives it logits 0
        layer = CosineLinear(bins, scale=beta)
        layer.build(tokens.shape)
        kernel = rng.normal(0.0, 3.0, size=(dim, bins)).astype("float32")
        layer.set_weights([kernel])
        logits = ops.convert_to_numpy(layer(tokens))
        np.testing.assert_allclose(logits, cosine_logits_reference(tokens, kernel, beta), atol=1e-4)
        np.testing.assert_allclose(SOLUTIONS.cosine_logits(tokens, kernel, beta), logits, atol=1e-4)
        assert np.all(logits[-1] == 0.0) and np.abs(logits).max() <= beta + 1e-4
