"""The seed study's pose heads (DeepPose + sigma, SimpleBaseline forms, IPR, DSNT, SimDR / SA-SimDR with
decoding and the cosine softmax normalisation), their decoding layers against NumPy references, the
deployable (inference-only) model, and its TFLite int8 conversion (TensorFlow backend only)."""
import keras
import numpy as np
import pytest

from kerasgp.data import targets as T
from kerasgp.experiments.training import Plan
from kerasgp.pose import (CosineLinear, FlipTestMerge, HeatmapArgmax, SimCCDecode, SoftArgmax2D, build_pose_model,
                          decode, decode_heatmaps, deployable_model, flip_test_model, head_of)
from kerasgp.pose.heads import first_argmax, peak_centre

SIZE = (64, 64)
RNG = np.random.default_rng(0)
TINY = {"repeats": (1, 1, 1, 1), "width": 0.25}  # a plain backbone of one unit per stage, for speed
IMAGES = RNG.uniform(size=(2, 64, 64, 3)).astype("float32")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _randomise_batch_norms(model, rng):
    # trained-like statistics: fresh BatchNorms are identities, which make every head's output flat
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n),
                               rng.uniform(0.5, 1.5, n)])


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("options, expected", [
    (dict(head="deeppose", sigma=True), {"coordinates": (2, 14, 2), "sigma": (2, 14, 2)}),
    (dict(head="ipr", feature="stride16"), {"coordinates": (2, 14, 2)}),
    (dict(head="dsnt", feature="stride16"), {"coordinates": (2, 14, 2), "heatmaps": (2, 4, 4, 14)}),
    (dict(head="simcc", simcc_decoding="argmax", cosine_scale=15.0),
     {"simcc_x": (2, 14, 128), "simcc_y": (2, 14, 128), "coordinates": (2, 14, 2)}),
])
def test_each_coordinate_head_returns_its_named_outputs_with_these_shapes(options, expected):
    model = build_pose_model("plain", None, SIZE, backbone_options=TINY, **options)
    out = model.predict_on_batch(IMAGES)
    assert {name: tuple(value.shape) for name, value in out.items()} == expected
    assert head_of(model) == ("simcc" if options["head"] == "simcc" else options["head"])


def test_heatmap_forms_give_simplebaseline_stride_4_and_the_light_256_k_form_stride_8():
    full = build_pose_model("plain", None, SIZE, head="heatmap", heatmap_form="simplebaseline", backbone_options=TINY)
    light = build_pose_model("plain", None, SIZE, head="heatmap", heatmap_form="light", backbone_options=TINY)
    assert tuple(full.output.shape) == (None, 16, 16, 14) and tuple(light.output.shape) == (None, 8, 8, 14)
    assert [full.get_layer(f"heatmap_deconv{i}").filters for i in (1, 2, 3)] == [256, 256, 256]
    assert isinstance(full.get_layer("heatmap_maps"), keras.layers.Conv2D)
    # [256, K]: one deconv of 256, then a deconv straight to the 14 maps (no 1x1 conv)
    assert light.get_layer("heatmap_deconv1").filters == 256
    assert isinstance(light.get_layer("heatmap_maps"), keras.layers.Conv2DTranspose)
    assert light.get_layer("heatmap_maps").filters == 14


def test_the_two_map_backbone_feeds_conv5_to_sigma_and_the_stage_output_to_localisation():
    model = build_pose_model("shufflenet_v2_x1.0", None, SIZE, head="deeppose", sigma=True, sigma_feature="conv5")
    assert model.get_layer("sigma_fc").kernel.shape == (1024, 28)
    assert model.get_layer("coordinates_fc").kernel.shape == (464, 28)


def test_sigma_lies_in_zero_one_and_dropout_sits_before_the_fc_layers():
    model = build_pose_model("plain", None, SIZE, head="deeppose", sigma=True, dropout=0.2, backbone_options=TINY)
    _randomise_batch_norms(model, np.random.default_rng(1))
    sigma = model.predict_on_batch(IMAGES)["sigma"]
    assert sigma.min() > 0.0 and sigma.max() < 1.0 and sigma.std() > 0
    names = [layer.name for layer in model.layers]
    assert names.index("coordinates_dropout") < names.index("coordinates_fc")
    assert names.index("sigma_dropout") < names.index("sigma_fc")


def test_options_that_do_not_fit_the_head_are_errors():
    with pytest.raises(ValueError, match="needs a coordinate head"):
        build_pose_model("shufflenet_v2_x0.5", None, SIZE, head="heatmap", sigma=True)
    with pytest.raises(ValueError, match="heatmap_form is one of"):
        build_pose_model("shufflenet_v2_x0.5", None, SIZE, head="deeppose", heatmap_form="light")
    with pytest.raises(ValueError, match="simcc_decoding applies to head 'simcc'"):
        build_pose_model("shufflenet_v2_x0.5", None, SIZE, head="simcc", simcc_decoding="mean")
    with pytest.raises(ValueError, match="no feature 'stride64'"):
        build_pose_model("shufflenet_v2_x0.5", None, SIZE, head="deeppose", sigma=True, sigma_feature="stride64")


# ---------------------------------------------------------------------------------------------- against NumPy
def test_soft_argmax_is_the_expected_cell_centre_under_the_spatial_softmax():
    logits = np.random.default_rng(2).normal(0, 3, (2, 4, 8, 3)).astype("float32")  # h=4, w=8
    input_size = (64, 32)
    p = _softmax(logits.reshape(2, 32, 3), axis=1).reshape(2, 4, 8, 3)
    centre_x = (np.arange(8) + 0.5) * 64 / 8 - 0.5  # cell i's centre in input pixels
    centre_y = (np.arange(4) + 0.5) * 32 / 4 - 0.5
    want = np.stack([np.einsum("bhwk,w->bk", p, centre_x), np.einsum("bhwk,h->bk", p, centre_y)], -1)
    pixels = _numpy(SoftArgmax2D(input_size, units="pixels")(logits))
    crop = _numpy(SoftArgmax2D(input_size, units="crop")(logits))
    assert np.allclose(pixels, want, atol=1e-3)
    assert np.allclose(crop, want / np.array(input_size) - 0.5, atol=1e-5)
    # the same as the DSNT loss's own soft-argmax, in dsntnn's units
    from kerasgp.pose import dsnt, normalized_coordinates, spatial_softmax

    assert np.allclose(normalized_coordinates(pixels, input_size), _numpy(dsnt(spatial_softmax(logits))), atol=1e-5)


def test_simcc_argmax_and_soft_argmax_decoding_match_numpy():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 2, (2, 5, 128)).astype("float32"), rng.normal(0, 2, (2, 5, 96)).astype("float32")
    argmax = _numpy(SimCCDecode((64, 48), 2.0, "argmax", "pixels")([x, y]))
    assert np.array_equal(argmax, T.decode_simcc(x, y, 2.0))
    soft = _numpy(SimCCDecode((64, 48), 2.0, "soft_argmax", "crop")([x, y]))
    want = np.stack([_softmax(x, -1) @ np.arange(128), _softmax(y, -1) @ np.arange(96)], -1) / 2.0
    assert np.allclose(soft, want / np.array([64, 48]) - 0.5, atol=1e-5)


def test_first_argmax_takes_the_first_of_tied_maxima_as_numpy():
    x = np.array([[1.0, 3.0, 3.0, 0.0], [-0.0, 0.0, -1.0, -2.0]], dtype="float32")
    assert _numpy(first_argmax(x, axis=-1)).tolist() == np.argmax(x, axis=-1).tolist() == [1, 0]


def test_peak_centre_is_argmax_for_a_unique_peak_and_the_run_centre_for_ties_in_keras_and_numpy():
    x = np.array([[1.0, 3.0, 2.0, 0.0], [0.0, 3.0, 3.0, 3.0], [5.0, 5.0, 0.0, 5.0]], dtype="float32")
    want = [1.0, 2.0, 1.5]  # unique; a run of three; first and last tied maxima
    assert _numpy(peak_centre(x, axis=-1)).tolist() == T.peak_centre(x).tolist() == want
    # int8-like logits: a Gaussian log-density sampled on a 1.5-unit grid ties ~15 bins around the peak;
    # the run centre stays on the true peak where the first maximum falls half the run to the left
    bins = np.arange(256, dtype="float32")
    logits = np.round(-((bins - 100.0) ** 2) / (2 * 6.0 ** 2) / 1.5) * 1.5
    assert T.peak_centre(logits) == 100.0 and _numpy(peak_centre(logits)) == 100.0
    assert logits.argmax() < 95


def test_heatmap_argmax_layer_matches_simplebaselines_numpy_decoding_border_cells_included():
    rng = np.random.default_rng(4)
    maps = rng.normal(size=(3, 6, 5, 4)).astype("float32")
    maps[0, 0, 2, 0] = 9.0  # a peak on the top border: no vertical shift there
    maps[1, 3, 4, 1] = 9.0  # on the right border: no horizontal shift
    got = _numpy(HeatmapArgmax((40, 48))(maps))
    assert np.allclose(got, decode_heatmaps(maps, (40, 48)), atol=1e-5)


def test_cosine_linear_is_scale_times_the_cosine_of_token_and_each_bins_weight():
    layer = CosineLinear(7, scale=15.0)
    tokens = np.random.default_rng(5).normal(size=(2, 3, 10)).astype("float32")
    got = _numpy(layer(tokens))
    w = _numpy(layer.kernel)
    want = 15.0 * (tokens / np.linalg.norm(tokens, axis=-1, keepdims=True)) @ (w / np.linalg.norm(w, axis=0))
    assert np.allclose(got, want, atol=1e-4) and np.abs(got).max() <= 15.0 + 1e-4


def test_scale_norm_is_g_times_the_token_over_its_rms():
    from kerasgp.layers import ScaleNorm

    x = np.random.default_rng(9).normal(size=(2, 3, 16)).astype("float32")
    x[0, 0] = 0.0  # an all-zero token stays finite (the epsilon floor)
    want = x / np.maximum(np.sqrt((x**2).mean(-1, keepdims=True)), 1e-5)
    assert np.allclose(_numpy(ScaleNorm()(x)), want, atol=1e-5)


# ---------------------------------------------------------------------------------------------- saving, deployment
def test_a_model_with_every_new_layer_round_trips_through_a_keras_file_in_safe_mode(tmp_path):
    model = build_pose_model("plain", None, SIZE, head="simcc", simcc_decoding="soft_argmax", cosine_scale=15.0,
                             sigma=True, backbone_options=TINY)
    deployed = deployable_model(build_pose_model("plain", None, SIZE, head="heatmap", heatmap_form="light",
                                                 backbone_options=TINY))
    dsnt = build_pose_model("plain", None, SIZE, head="dsnt", backbone_options=TINY)
    for original in (model, deployed, dsnt):
        original.save(tmp_path / "m.keras")
        again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
        a, b = original.predict_on_batch(IMAGES), again.predict_on_batch(IMAGES)
        assert sorted(a) == sorted(b) and all(np.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_the_deployable_rle_model_has_no_flow_and_decodes_as_the_training_model():
    model = build_pose_model("plain", None, SIZE, head="deeppose", sigma=True, backbone_options=TINY)
    _randomise_batch_norms(model, np.random.default_rng(6))
    training = Plan(model, {"head": "deeppose", "loss": "rle", "input_size": SIZE[0]}, 14).model
    deployed = deployable_model(training)
    assert len(training.inputs) == 3 and len(deployed.inputs) == 1
    assert any("flow" in w.path for w in training.weights) and not any("flow" in w.path for w in deployed.weights)
    assert len(deployed.weights) == len(model.weights)
    out, got = model.predict_on_batch(IMAGES), deployed.predict_on_batch(IMAGES)
    assert np.allclose(got["keypoints"], decode(out, None, SIZE), atol=1e-4)
    assert np.allclose(got["confidence"], 1.0 - out["sigma"].mean(-1), atol=1e-6)


@pytest.mark.parametrize("options", [dict(head="simcc"), dict(head="heatmap"),
                                     dict(head="dsnt", feature="stride16", deconv_channels=(16,))])
def test_the_deployable_model_gives_the_keypoints_numpy_decoding_gives(options):
    model = build_pose_model("plain", None, SIZE, backbone_options=TINY, **options)
    _randomise_batch_norms(model, np.random.default_rng(7))
    out, got = model.predict_on_batch(IMAGES), deployable_model(model).predict_on_batch(IMAGES)
    assert np.allclose(got["keypoints"], decode(out, None, SIZE, split_ratio=None), atol=1e-3)
    if options["head"] == "simcc":  # the smaller of the two vectors' largest softmax probability
        want = np.minimum(_softmax(out[0], -1).max(-1), _softmax(out[1], -1).max(-1))
    elif options["head"] == "heatmap":  # the peak of the map
        want = out.max(axis=(1, 2))
    else:  # the peak of the spatial softmax of the logits
        want = _softmax(out["heatmaps"].reshape(2, -1, 14), 1).max(1)
    assert np.allclose(got["confidence"], want, atol=1e-5)


# ---------------------------------------------------------------------------------------------- flip test
def _unmirror(values, permutation, width=None):
    """NumPy reference: a prediction on the mirrored image in the image's frame (joints swapped, x mirrored)."""
    values = np.asarray(values)[:, permutation].copy()
    if width is not None:
        values[..., 0] = width - 1 - values[..., 0]
    return values


def test_the_flip_test_averages_the_image_and_its_mirror_in_the_images_frame(tmp_path):
    from kerasgp.data import LSP14

    model = build_pose_model("plain", None, SIZE, head="deeppose", sigma=True, backbone_options=TINY)
    _randomise_batch_norms(model, np.random.default_rng(9))
    deployed, perm = deployable_model(model), LSP14.flip_permutation()
    flipped = flip_test_model(model, perm)
    direct, mirrored = deployed.predict_on_batch(IMAGES), deployed.predict_on_batch(IMAGES[:, :, ::-1])
    got = flipped.predict_on_batch(IMAGES)
    np.testing.assert_allclose(got["keypoints"], (direct["keypoints"] + _unmirror(mirrored["keypoints"], perm, 64)) / 2,
                               atol=1e-4)
    np.testing.assert_allclose(got["confidence"], (direct["confidence"] + _unmirror(mirrored["confidence"], perm)) / 2,
                               atol=1e-6)
    # equivariant: the flip test of the mirror is the mirror of the flip test
    np.testing.assert_allclose(flipped.predict_on_batch(IMAGES[:, :, ::-1])["keypoints"],
                               _unmirror(got["keypoints"], perm, 64), atol=1e-3)
    assert len(flipped.weights) == len(model.weights) and flip_test_model(flipped, perm).count_params() == model.count_params()
    flipped.save(tmp_path / "flip.keras")
    again = keras.saving.load_model(tmp_path / "flip.keras")
    np.testing.assert_allclose(again.predict_on_batch(IMAGES)["keypoints"], got["keypoints"], atol=1e-5)
    with pytest.raises(ValueError, match="permutation"):
        FlipTestMerge([0, 0, 1])


def test_the_flip_tests_mirror_is_the_training_augmentations_flip():
    # MirrorImage reverses the columns; the augmentation's flip (crop_matrices, flips=True) must map pixel x
    # to W - 1 - x for the two to agree, image and keypoints alike.
    from kerasgp.data.transforms import apply_affine, crop_matrices, warp

    rng = np.random.default_rng(10)
    source = rng.integers(0, 256, size=(90, 70, 3), dtype=np.uint8)
    centre, box = np.array([[34.5, 44.5]]), np.array([[60.0, 80.0]])
    plain = crop_matrices(centre, box, SIZE)
    mirror = crop_matrices(centre, box, SIZE, flips=[True])
    difference = warp(source, mirror[0], SIZE).astype(int) - warp(source, plain[0], SIZE)[:, ::-1]
    assert np.abs(difference).max() <= 1 and (difference == 0).mean() > 0.99  # bilinear rounding, else equal
    point = np.array([[[20.0, 30.0]]])
    a, b = apply_affine(point, plain), apply_affine(point, mirror)
    np.testing.assert_allclose(b[..., 0], SIZE[0] - 1 - a[..., 0], atol=1e-4)
    np.testing.assert_allclose(b[..., 1], a[..., 1], atol=1e-4)


# ---------------------------------------------------------------------------------------------- TFLite int8
# IPR and DSNT share the soft-argmax layer: DSNT without sigma covers it and the softmax-map confidence
FAMILIES = {"deeppose": dict(head="deeppose", sigma=True), "dsnt": dict(head="dsnt", feature="stride16"),
            "sa_simdr": dict(head="simcc", simcc_decoding="soft_argmax", cosine_scale=15.0),
            "simcc": dict(head="simcc"), "heatmap": dict(head="heatmap", heatmap_form="light")}


@pytest.mark.tflite
def test_every_familys_deployable_model_converts_to_int8_and_matches_keras():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("converted once, under the TensorFlow backend (the conversion's own backend)")
    from kerasgp.deploy import convert, float_decoding_layers, run_tflite

    rng = np.random.default_rng(8)
    image = keras.Input((64, 64, 3), name="image")
    outputs = {}
    for family, options in FAMILIES.items():  # one model holding all five: one conversion, not five
        # TINY: ~15 ops per backbone, so six of them convert in seconds
        model = build_pose_model("plain", None, SIZE, name=family, backbone_options=TINY, **options)
        _randomise_batch_norms(model, rng)
        for key, value in deployable_model(model, name=f"{family}_deployed")(image).items():
            outputs[f"{family}_{key}"] = value
    families = keras.Model(image, outputs, name="families")
    test = rng.uniform(size=(6, 64, 64, 3)).astype("float32")
    want = families.predict_on_batch(test)
    conversion = convert(families, "int8", representative=rng.uniform(size=(32, 64, 64, 3)).astype("float32"),
                         num_samples=32)
    got = run_tflite(conversion, test)
    assert sorted(got) == sorted(want)
    # float: the heatmap argmax's int32 -> float casts (column, row), and by default (float_decoding_layers)
    # SimCC's decoding, with the linear layers before it for argmax
    assert float_decoding_layers(families) == ["sa_simdr_deployed/coordinates", "simcc_deployed/simcc_x",
                                               "simcc_deployed/simcc_y", "simcc_deployed/keypoints"]
    simcc = ("/sa_simdr_deployed_1/coordinates_1/", "/simcc_deployed_1/simcc_", "/simcc_deployed_1/keypoints_1/")
    float_ops = conversion.op_report["float_ops"]
    assert all(" CAST " in line or any(scope in line for scope in simcc) for line in float_ops), float_ops
    assert any(" SUM " in line and simcc[0] in line for line in float_ops)  # the expectation over the bins
    assert sum(" FULLY_CONNECTED " in line for line in float_ops) == 2  # the argmax head's x and y logits
    for family in FAMILIES:
        error = np.linalg.norm(got[f"{family}_keypoints"] - want[f"{family}_keypoints"], axis=-1)  # pixels
        if family in ("simcc", "heatmap"):  # argmax: a near-tie may flip to another bin or cell under int8
            assert np.mean(error <= 8.0) >= 0.75, (family, np.sort(error.ravel())[-10:])
        else:
            # measured: median 0.1-0.5 px, max 0.3 (DSNT) to 5 px (SA-SimDR: cosine logits x 15 over 128 bins)
            assert np.median(error) <= 1.0 and error.max() <= 8.0, (family, np.median(error), error.max())
        confidence = np.abs(got[f"{family}_confidence"] - want[f"{family}_confidence"])
        assert confidence.max() <= 0.02 + 0.15 * np.abs(want[f"{family}_confidence"]).max(), family
