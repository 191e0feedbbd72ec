"""Pretrained weights: porting PyTorch state dicts and listing what is ported. Handlers import what they run inside
themselves (see `kerasgp.cli`)."""
from __future__ import annotations


def _weights_import(args) -> int:
    from ..backbones import port

    path = port(args.name, source=args.source, out=args.out)
    print(f"{args.name}: ported to {path}")
    return 0

def _weights_list(args) -> int:
    from ..presets import pretrained
    from ..weights import ported_path

    for name, preset in pretrained().items():
        path = ported_path(name)
        print(f"{name:20s} {preset.family:15s} {path if path.exists() else 'not ported yet'}")
    return 0


def register(sub) -> None:
    """Add this group's sub-commands to the `python -m kerasgp` parser."""
    weights = sub.add_parser("weights", help="port pretrained PyTorch backbones into kerasgp")
    wsub = weights.add_subparsers(dest="action", required=True)
    p = wsub.add_parser("import", help="port a PyTorch state dict (needs torch)")
    p.add_argument("name", help="shufflenet_v2_x0.5 or mobilenet_v2")
    p.add_argument("--source", help="the .pth/.pt file (default: found by the data-root lookup)")
    p.add_argument("--out", help="where to write the .npz (default: $KERASGP_WEIGHTS or ~/.cache/kerasgp/weights)")
    p.set_defaults(func=_weights_import)
    p = wsub.add_parser("list", help="the pretrained weights and whether they are ported")
    p.set_defaults(func=_weights_list)
