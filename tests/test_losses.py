"""The pose losses against NumPy references on fixed inputs, through the API training uses (each per-joint
function as a `JointLoss` layer, RLE's per-sample loss and its layer); target weights; shapes; gradients; the
RLE training graph, whose flow stays out of the inference model."""
import math

import keras
import numpy as np
import pytest

from conftest import input_gradient
from kerasgp.data import targets as T
from kerasgp.pose import geometry
from kerasgp.pose import rle
from kerasgp.pose import losses as L
from kerasgp.pose.flow import RealNVP

RNG = np.random.default_rng(0)
B, K = 3, 4
INPUT = (32, 32)
KEYPOINTS = RNG.uniform(0, 31, (B, K, 2)).astype("float32")
WEIGHTS = np.array([[1, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 1]], "float32")


def _np(x):
    return keras.ops.convert_to_numpy(x).astype("float64")


def _close(got, expected, atol=1e-6):
    np.testing.assert_allclose(_np(got), expected, rtol=1e-5, atol=atol)


def _mean_over_joints(per_joint, weights):  # mmpose: sum(w * loss) / (B * K)
    return (per_joint * weights).sum() / per_joint.size


def _loss(kind, y_true, y_pred, weights=None, **options):
    """What training minimises: the JointLoss layer's per-sample output, averaged over the batch (OutputAsLoss)."""
    inputs = [y_true, y_pred] if weights is None else [y_true, y_pred, weights]
    return keras.ops.mean(L.JointLoss(kind, options)(inputs))


def _rle(*args, **options):  # mmpose's size_average: the sum over joints and coordinates, / batch
    return keras.ops.mean(rle.rle_loss_per_sample(*args, **options))


def _log_softmax(z, axis=-1):
    z = z.astype("float64")
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


# ---------------------------------------------------------------------------------------------- SmoothL1
def _smooth_l1_reference(y_true, y_pred, beta=1.0):
    d = np.abs(y_pred.astype("float64") - y_true)
    return np.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta).mean(-1)


def test_smooth_l1_matches_torch_definition_and_counts_zero_weight_joints_in_the_mean():
    y_true = T.coordinate_targets(KEYPOINTS, INPUT)
    y_pred = y_true + RNG.normal(scale=1.0, size=y_true.shape).astype("float32")  # both branches of beta=1
    reference = _smooth_l1_reference(y_true, y_pred)
    assert (np.abs(y_pred - y_true) > 1).any() and (np.abs(y_pred - y_true) < 1).any()
    _close(_loss("smoothl1", y_true, y_pred), reference.mean())
    _close(_loss("smoothl1", y_true, y_pred, WEIGHTS), _mean_over_joints(reference, WEIGHTS))
    _close(_loss("smoothl1", y_true, y_pred, beta=0.5), _smooth_l1_reference(y_true, y_pred, 0.5).mean())
    _close(L.smooth_l1_per_joint(y_true, y_pred), reference)


def test_a_zero_weight_joint_contributes_nothing_whatever_its_prediction():
    y_true = T.coordinate_targets(KEYPOINTS, INPUT)
    y_pred = y_true + 0.1
    wild = y_pred.copy()
    wild[WEIGHTS == 0] += 100.0
    assert np.isclose(_np(_loss("smoothl1", y_true, y_pred, WEIGHTS)), _np(_loss("smoothl1", y_true, wild, WEIGHTS)))
    # the denominator still counts it: with the same error on every joint, the loss scales with mean(weight)
    assert np.isclose(_np(_loss("smoothl1", y_true, wild, WEIGHTS)),
                      _np(_loss("smoothl1", y_true, y_pred)) * WEIGHTS.mean())


# ---------------------------------------------------------------------------------------------- heatmap MSE
def test_heatmap_mse_is_the_weighted_mean_of_squared_errors_and_loss_weight_half_is_simplebaseline():
    y_true = T.heatmap_targets(KEYPOINTS, WEIGHTS, INPUT, stride=4)  # (B, 8, 8, K)
    y_pred = y_true + RNG.normal(scale=0.1, size=y_true.shape).astype("float32")
    per_joint = ((y_pred.astype("float64") - y_true) ** 2).mean(axis=(1, 2))
    _close(_loss("heatmap_mse", y_true, y_pred, WEIGHTS), _mean_over_joints(per_joint, WEIGHTS))
    # mmpose KeypointMSELoss: mean over B, K, h, w of mask * squared error
    mask = WEIGHTS[:, None, None, :]
    _close(_loss("heatmap_mse", y_true, y_pred, WEIGHTS), (mask * (y_pred.astype("float64") - y_true) ** 2).mean())
    _close(_loss("heatmap_mse", y_true, y_pred, WEIGHTS, loss_weight=0.5), 0.5 * _mean_over_joints(per_joint, WEIGHTS))


# ---------------------------------------------------------------------------------------------- SimDR / SA-SimDR
def _one_hot_simcc(keypoints, input_size, split_ratio=2.0):
    """SimDR's labels: the bin round(k * coordinate), one-hot, per axis."""
    out = []
    for axis, size in enumerate(input_size):
        bins = int(size * split_ratio)
        index = np.clip(np.round(keypoints[..., axis] * split_ratio).astype(int), 0, bins - 1)
        out.append(np.eye(bins, dtype="float32")[index])
    return out


def test_simdr_cross_entropy_on_one_hot_labels_matches_numpy_and_equals_the_kl():
    labels_x, _ = _one_hot_simcc(KEYPOINTS, INPUT)
    logits = RNG.normal(size=labels_x.shape).astype("float32")
    per_joint = -(labels_x * _log_softmax(logits)).sum(-1)
    _close(_loss("simcc_ce", labels_x, logits, WEIGHTS), _mean_over_joints(per_joint, WEIGHTS))
    _close(_loss("simcc_kl", labels_x, logits, WEIGHTS), _mean_over_joints(per_joint, WEIGHTS))
    # the base recipe compiles Keras' own cross-entropy on the logits: the same loss, unweighted
    _close(keras.losses.CategoricalCrossentropy(from_logits=True)(labels_x, logits), per_joint.mean())


@pytest.mark.parametrize("sigma", [4.0, 6.0])
def test_sa_simdr_kl_to_gaussian_labels_matches_numpy(sigma):
    labels_x, labels_y = T.simcc_targets(KEYPOINTS, WEIGHTS, INPUT, split_ratio=2.0, sigma=sigma)
    for labels in (labels_x, labels_y):
        logits = RNG.normal(size=labels.shape).astype("float32")
        p = labels.astype("float64")
        entropy = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
        per_joint = (entropy - p * _log_softmax(logits)).sum(-1)
        _close(_loss("simcc_kl", labels, logits, WEIGHTS), _mean_over_joints(per_joint, WEIGHTS))
        # logits = log(label) reproduce the label: the KL is 0 there
        exact = np.log(np.maximum(labels, 1e-30)).astype("float32")
        assert abs(_np(_loss("simcc_kl", labels, exact, WEIGHTS))) < 1e-5


# ---------------------------------------------------------------------------------------------- DSNT
def _dsnt_reference(y_true, logits, sigma, weight):
    """dsntnn: flat_softmax, dsnt, euclidean_losses, make_gauss (normalised units), js_reg_losses."""
    batch, height, width, joints = logits.shape
    flat = logits.transpose(0, 3, 1, 2).reshape(batch, joints, -1)
    p = np.exp(_log_softmax(flat)).reshape(batch, joints, height, width)
    lin = lambda n: np.linspace(-(n - 1) / n, (n - 1) / n, n)  # noqa: E731  dsntnn's _normalized_linspace
    coords = np.stack([(p.sum(2) * lin(width)).sum(-1), (p.sum(3) * lin(height)).sum(-1)], -1)
    euclid = np.sqrt(((coords - y_true) ** 2).sum(-1))
    gx = np.exp(-0.5 * ((lin(width) - y_true[..., 0:1]) / sigma) ** 2)
    gy = np.exp(-0.5 * ((lin(height) - y_true[..., 1:2]) / sigma) ** 2)
    gauss = gy[..., :, None] * gx[..., None, :]
    gauss = gauss / (gauss.sum(axis=(2, 3), keepdims=True) + 1e-24)
    kl = lambda a, b: (a * (np.log(a + 1e-24) - np.log(b + 1e-24))).sum(axis=(2, 3))  # noqa: E731
    m = 0.5 * (p + gauss)
    return coords, euclid + weight * (0.5 * kl(p, m) + 0.5 * kl(gauss, m))


def test_dsnt_sigma_is_one_map_pixel_in_normalised_units():
    assert geometry.dsnt_sigma(8) == 0.25 and geometry.dsnt_sigma(16) == 0.125 and geometry.dsnt_sigma(8, pixels=2) == 0.5
    with pytest.raises(ValueError, match="map_size >= 1"):
        geometry.dsnt_sigma(0)


def test_normalised_coordinates_put_pixel_centres_on_the_cell_centres_of_the_map():
    # a 32 input over an 8 map: cell i covers pixels 4i..4i+3, centre pixel 4i + 1.5
    cells = np.arange(8, dtype="float32")
    centres = np.stack([4 * cells + 1.5, 4 * cells + 1.5], -1)[None]
    assert np.allclose(geometry.normalized_coordinates(centres, INPUT)[0, :, 0], geometry.normalized_linspace(8))
    assert np.allclose(geometry.normalized_linspace(4), [-0.75, -0.25, 0.25, 0.75])
    assert np.allclose(geometry.pixel_coordinates(geometry.normalized_coordinates(KEYPOINTS, INPUT), INPUT), KEYPOINTS, atol=1e-5)


def test_dsnt_loss_matches_dsntnn_with_the_js_regulariser():
    y_true = geometry.normalized_coordinates(KEYPOINTS, INPUT).astype("float64")
    logits = RNG.normal(scale=2.0, size=(B, 8, 8, K)).astype("float32")
    coords, per_joint = _dsnt_reference(y_true, logits, sigma=0.25, weight=1.0)
    _close(geometry.dsnt(geometry.spatial_softmax(logits)), coords)
    _close(_loss("dsnt", y_true, logits, WEIGHTS), _mean_over_joints(per_joint, WEIGHTS))  # default sigma 2/8
    _, per_joint = _dsnt_reference(y_true, logits, sigma=0.5, weight=0.3)
    _close(_loss("dsnt", y_true, logits, WEIGHTS, sigma=0.5, regularization_weight=0.3),
           _mean_over_joints(per_joint, WEIGHTS))


def test_a_map_equal_to_the_target_gaussian_has_zero_divergence():
    y_true = geometry.normalized_coordinates(KEYPOINTS, INPUT)
    gauss = _np(geometry.target_gaussians(y_true, (8, 8), 0.25))
    assert gauss.shape == (B, 8, 8, K) and np.allclose(gauss.sum(axis=(1, 2)), 1.0)
    logits = np.log(gauss + 1e-30).astype("float32")
    per_joint = _np(L.js_divergence_maps(geometry.spatial_softmax(logits), gauss.astype("float32")))
    assert np.abs(per_joint).max() < 1e-5
    # without the regulariser only the distance is left
    distance = np.sqrt(((_np(geometry.dsnt(geometry.spatial_softmax(logits))) - y_true) ** 2).sum(-1))
    _close(_loss("dsnt", y_true, logits, regularization_weight=0.0), distance.mean())


# ---------------------------------------------------------------------------------------------- BCE / QFL
def test_presence_bce_and_quality_focal_loss_on_one_minus_sigma_match_numpy():
    sigma = RNG.uniform(0.02, 0.98, (B, K, 2)).astype("float32")
    visible = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 1]], "float32")
    quality = RNG.uniform(0, 1, (B, K)).astype("float32")
    score = 1.0 - sigma.astype("float64").mean(-1)
    _close(L.presence_score(sigma), score)
    bce = lambda y, s: -(y * np.log(s) + (1 - y) * np.log(1 - s))  # noqa: E731
    _close(_loss("bce", visible, sigma), bce(visible, score).mean())
    _close(_loss("bce", visible, sigma, WEIGHTS), _mean_over_joints(bce(visible, score), WEIGHTS))
    qfl = np.abs(quality - score) ** 2 * bce(quality, score)
    _close(_loss("qfl", quality, sigma, WEIGHTS), _mean_over_joints(qfl, WEIGHTS))
    _close(_loss("qfl", quality, score.astype("float32"), beta=1.0, from_sigma=False),
           (np.abs(quality - score) * bce(quality, score)).mean())


def test_quality_focal_loss_vanishes_where_the_score_equals_the_quality_and_bce_is_clipped():
    score = np.array([[0.3, 0.9]], "float32")
    assert np.allclose(_np(_loss("qfl", score, score, from_sigma=False)), 0.0, atol=1e-12)
    certain = np.array([[0.0, 1.0]], "float32")  # score 0 for a present joint: clipped to 1e-7, finite
    assert np.isclose(_np(_loss("bce", np.array([[1.0, 1.0]]), certain, from_sigma=False)), -math.log(1e-7) / 2,
                      rtol=1e-3)


# ---------------------------------------------------------------------------------------------- RLE
def _flow(seed=1):
    flow = RealNVP()
    flow.build((None, 2))
    rng = np.random.default_rng(seed)
    flow.set_weights([rng.normal(scale=0.1, size=w.shape).astype("float32") for w in flow.get_weights()])
    return flow


def _flow_reference(flow):
    """NumPy RealNVP.log_prob with the flow's weights (mmpose's backward_p, then the prior)."""
    weights = {w.name: _np(w) for w in flow.weights}

    def net(name, i, x):
        for index in (1, 2, 3):
            x = x @ weights[f"{name}_kernel_{index}"][i] + weights[f"{name}_bias_{index}"][i]
            x = np.where(x > 0, x, 0.01 * x) if index < 3 else x
        return np.tanh(x) if name == "scale" else x

    def log_prob(x):
        z, log_det = x.astype("float64"), 0.0
        for i in reversed(range(6)):
            mask = np.array([0.0, 1.0] if i % 2 == 0 else [1.0, 0.0])
            s, t = net("scale", i, mask * z) * (1 - mask), net("translation", i, mask * z) * (1 - mask)
            z = (1 - mask) * (z - t) * np.exp(-s) + mask * z
            log_det = log_det - s.sum(-1)
        return -0.5 * (z**2).sum(-1) - math.log(2 * math.pi) + log_det

    return log_prob


def _rle_reference(pred, sigma, target, weights, log_phi, q="laplace", residual=True, gamma=1.0, sigmoid=False):
    """mmpose 1.x RLELoss.forward, per sample (before size_average)."""
    sigma = sigma.astype("float64")
    if sigmoid:
        sigma = 1 / (1 + np.exp(-sigma))
    sigma = sigma + 1e-9
    error = (pred.astype("float64") - target) / sigma
    loss = gamma * np.log(sigma) - log_phi(error)[..., None]
    if residual:
        loss += np.log(2 * sigma) + np.abs(error) if q == "laplace" else \
            np.log(sigma * math.sqrt(2 * math.pi)) + 0.5 * error**2
    return (loss * weights[..., None]).sum(axis=(1, 2))


RLE_TARGET = T.coordinate_targets(KEYPOINTS, INPUT)
RLE_PRED = RLE_TARGET + RNG.normal(scale=0.05, size=RLE_TARGET.shape).astype("float32")
RLE_SIGMA = RNG.uniform(0.02, 0.3, RLE_TARGET.shape).astype("float32")


@pytest.mark.parametrize("options", [{}, {"q_distribution": "gaussian"}, {"residual": False}, {"gamma": 0.5}])
def test_rle_loss_matches_mmpose_with_the_same_flow(options):
    flow = _flow()
    reference = _rle_reference(RLE_PRED, RLE_SIGMA, RLE_TARGET, WEIGHTS, _flow_reference(flow),
                               q=options.get("q_distribution", "laplace"), residual=options.get("residual", True),
                               gamma=options.get("gamma", 1.0))
    per_sample = rle.rle_loss_per_sample(RLE_PRED, RLE_SIGMA, RLE_TARGET, WEIGHTS, log_phi=flow.log_prob, **options)
    # A sample's loss sums 12 float32 terms of size 1.3 to 3.4 (log sigma, -log phi) that can cancel to near
    # zero (-0.003 for one sample without the residual term): float32 round-off of such a sum is about 1e-6 in
    # absolute terms, whatever the result, so the bound is absolute; a wrong term would move it by 1e-2 or more.
    _close(per_sample, reference, atol=1e-5)
    # size_average: the sum over joints and coordinates, / batch
    _close(keras.ops.mean(per_sample), reference.mean(), atol=1e-5)


def test_rle_loss_with_sigma_logits_applies_the_sigmoid_as_mmpose():
    flow = _flow()
    logits = RNG.normal(size=RLE_SIGMA.shape).astype("float32")
    reference = _rle_reference(RLE_PRED, logits, RLE_TARGET, WEIGHTS, _flow_reference(flow), sigmoid=True)
    _close(_rle(RLE_PRED, logits, RLE_TARGET, WEIGHTS, flow.log_prob, sigma_activation="sigmoid"), reference.mean())


def test_rle_counts_the_flow_term_once_per_coordinate_as_the_reference_code():
    # gamma 0 and no residual leave -log_phi(e), broadcast over x and y: twice the flow's log density
    flow = _flow()
    error = (RLE_PRED - RLE_TARGET) / (RLE_SIGMA + 1e-9)
    log_phi = _np(flow.log_prob(error))
    _close(_rle(RLE_PRED, RLE_SIGMA, RLE_TARGET, log_phi=flow.log_prob, residual=False, gamma=0.0),
           -2 * log_phi.sum(-1).mean())


def test_rle_layer_returns_the_per_sample_loss_and_ignores_zero_weight_joints():
    layer = rle.RLELoss(q_distribution="laplace")
    inputs = [RLE_PRED, RLE_SIGMA, RLE_TARGET, WEIGHTS]
    per_sample = _np(layer(inputs))
    assert per_sample.shape == (B,)
    _close(per_sample, _rle_reference(RLE_PRED, RLE_SIGMA, RLE_TARGET, WEIGHTS, _flow_reference(layer.flow)))
    wild = RLE_PRED.copy()
    wild[WEIGHTS == 0] += 5.0
    np.testing.assert_allclose(_np(layer([wild, RLE_SIGMA, RLE_TARGET, WEIGHTS])), per_sample, rtol=1e-6)
    without_weights = _np(layer([RLE_PRED, RLE_SIGMA, RLE_TARGET]))
    assert not np.allclose(without_weights, per_sample)


# ---------------------------------------------------------------------------------------------- gradients, shapes
GRADIENT_CASES = {
    "smooth_l1": (lambda p: _loss("smoothl1", RLE_TARGET, p, WEIGHTS), RLE_PRED),
    "heatmap_mse": (lambda p: _loss("heatmap_mse", np.zeros((B, 8, 8, K), "float32"), p, WEIGHTS),
                    RNG.normal(size=(B, 8, 8, K)).astype("float32")),
    "simcc_kl": (lambda p: _loss("simcc_kl", T.simcc_targets(KEYPOINTS, WEIGHTS, INPUT)[0], p, WEIGHTS),
                 RNG.normal(size=(B, K, 64)).astype("float32")),
    "dsnt": (lambda p: _loss("dsnt", geometry.normalized_coordinates(KEYPOINTS, INPUT), p, WEIGHTS),
             RNG.normal(size=(B, 8, 8, K)).astype("float32")),
    "qfl": (lambda p: _loss("qfl", WEIGHTS, p, WEIGHTS), RLE_SIGMA),
    "bce": (lambda p: _loss("bce", WEIGHTS, p), RLE_SIGMA),
    "rle": (lambda p: _rle(p, RLE_SIGMA, RLE_TARGET, WEIGHTS, log_phi=_flow().log_prob), RLE_PRED),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradients_are_finite_and_not_all_zero(name):
    fn, x = GRADIENT_CASES[name]
    gradient = input_gradient(fn, x)
    assert gradient.shape == x.shape and np.isfinite(gradient).all() and np.abs(gradient).max() > 0


def test_dsnt_gradient_is_finite_at_a_perfect_prediction():
    y_true = np.zeros((B, K, 2), "float32")  # the centre of the map: a uniform map predicts it exactly
    gradient = input_gradient(lambda p: _loss("dsnt", y_true, p, WEIGHTS), np.zeros((B, 8, 8, K), "float32"))
    assert np.isfinite(gradient).all()


def test_bad_shapes_are_errors_that_say_what_was_expected():
    coords = np.zeros((B, K, 2), "float32")
    with pytest.raises(ValueError, match="same shape"):
        L.smooth_l1_per_joint(coords, np.zeros((B, K + 1, 2), "float32"))
    with pytest.raises(ValueError, match=r"target_weight must be \(batch, joints\)"):
        L.JointLoss("smoothl1")([coords, coords, np.ones((B, K + 1))])
    with pytest.raises(ValueError, match="unknown joint loss 'focal'"):
        L.JointLoss("focal")
    with pytest.raises(ValueError, match="heatmaps"):
        L.heatmap_mse_per_joint(coords, coords)
    with pytest.raises(ValueError, match="SimCC logits"):
        L.simcc_kl_per_joint(np.zeros((B, 64)), np.zeros((B, 64)))
    with pytest.raises(ValueError, match="must match the heatmaps"):
        L.dsnt_per_joint(coords, np.zeros((B, 8, 8, K + 2), "float32"))
    with pytest.raises(ValueError, match=r"pred must be \(batch, joints, 2\)"):
        rle.rle_loss_per_sample(np.zeros((B, K, 3)), np.ones((B, K, 3)), np.zeros((B, K, 3)))
    with pytest.raises(ValueError, match="q_distribution"):
        rle.RLELoss(q_distribution="cauchy")
    with pytest.raises(ValueError, match=r"\[pred, sigma, target\]"):
        rle.RLELoss()([coords, coords])
    with pytest.raises(ValueError, match=r"presence targets"):
        L.presence_bce_per_joint(np.zeros((B, K + 1)), np.ones((B, K, 2), "float32"))


def test_the_loss_layers_are_registered_and_rebuild_from_their_config():
    # (the .keras round trip of a compiled training graph, below, reloads them by their registered names)
    for layer in (L.JointLoss("dsnt", {"sigma": 0.125, "regularization_weight": 0.1}), L.JointLoss("qfl", {"beta": 1.5}),
                  rle.RLELoss(q_distribution="gaussian", gamma=0.5), rle.OutputAsLoss()):
        name = type(layer).__name__
        assert keras.saving.get_registered_object(f"kerasgp>{name}") is type(layer)
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


# ---------------------------------------------------------------------------------------------- training graph
def _tiny_rle_model():
    image = keras.Input((8, 8, 3), name="image")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="conv")(image))
    coords = keras.layers.Reshape((K, 2), name="coordinates")(keras.layers.Dense(K * 2, name="coords_fc")(x))
    sigma = keras.layers.Dense(K * 2, activation="sigmoid", name="sigma_fc")(x)
    sigma = keras.layers.Reshape((K, 2), name="sigma")(sigma)
    return keras.Model(image, {"coordinates": coords, "sigma": sigma}, name="tiny")


def _has_flow(model) -> bool:
    return any(isinstance(layer, rle.RLELoss) for layer in model.layers) or \
        any("flow" in weight.path for weight in model.weights)


def test_the_rle_training_graph_trains_the_flow_and_the_inference_model_never_holds_it(tmp_path):
    from kerasgp.experiments.training import Plan

    keras.utils.set_random_seed(0)
    model = _tiny_rle_model()
    plan = Plan(model, {"head": "deeppose", "loss": "rle", "input_size": 8}, K)
    training = plan.model
    assert _has_flow(training) and not _has_flow(model) and plan.inputs == ("image", "target", "target_weight")
    flow = training.get_layer("rle_loss").flow
    before = [_np(w) for w in flow.weights]
    training.compile(optimizer=keras.optimizers.Adam(1e-2), loss=plan.losses, loss_weights=plan.loss_weights)
    images = RNG.uniform(size=(B, 8, 8, 3)).astype("float32")
    x, y = {"image": images, "target": RLE_TARGET, "target_weight": WEIGHTS}, {"rle_loss": np.zeros((B,), "float32")}
    # what fit minimises is the layer's per-sample loss averaged over the batch: mmpose's size_average
    evaluated = training.evaluate(x, y, batch_size=B, verbose=0)
    outputs = model(images)
    _close(evaluated, reference := _rle_reference(_np(outputs["coordinates"]), _np(outputs["sigma"]), RLE_TARGET, WEIGHTS,
                                                  _flow_reference(flow)).mean())
    assert np.isfinite(reference)
    history = training.fit(x, y, epochs=3, batch_size=B, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.allclose(a, _np(w)) for a, w in zip(before, flow.weights))  # the flow learns too
    assert model.count_params() < training.count_params()  # the model shares the trained layers, not the flow

    training.save(tmp_path / "training.keras")  # the flow serialises with the training graph ...
    again = keras.saving.load_model(tmp_path / "training.keras", safe_mode=True)
    assert isinstance(again.loss["rle_loss"], rle.OutputAsLoss)  # the compiled loss comes back by its name
    _close(again(x)["rle_loss"], _np(training(x)["rle_loss"]))
    model.save(tmp_path / "inference.keras")  # ... and the saved model carries none of it
    exported = keras.saving.load_model(tmp_path / "inference.keras", safe_mode=True)
    assert not _has_flow(exported)
    np.testing.assert_allclose(_np(exported(images)["sigma"]), _np(model(images)["sigma"]), rtol=1e-6)
