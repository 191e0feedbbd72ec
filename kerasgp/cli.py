"""`python -m kerasgp ...`: the workbook's command line (DESIGN.md, Interfaces)."""
from __future__ import annotations

import argparse
import json
import os
import sys


def _data_info(args) -> int:
    from .data import data_roots, info

    rows = info()
    if args.json:
        print(json.dumps({"roots": [str(r) for r in data_roots()], "datasets": rows}, indent=1))
        return 0
    print("data roots searched, in order:")
    for root in data_roots():
        print(f"  {root}{'' if root.exists() else '  (absent)'}")
    print()
    for row in rows:
        where = row["path"] if row["found"] else "MISSING (python -m kerasgp data fetch " + row["name"] + ")"
        count = f"  [{row['files']}/{row['expected_files']} files]" if "files" in row else ""
        print(f"{row['name']:20s} {row['kind']:8s} {where}{count}")
    return 0


def _data_fetch(args) -> int:
    from .data import fetch

    path = fetch(args.name, dest_root=args.dest, force=args.force)
    print(f"{args.name}: {path}")
    return 0


def _data_cache(args) -> int:
    from .data import build_cache, load

    people = load(args.name, split=args.split)
    print(people.report)
    cache = build_cache(people, (args.size, args.size), rebuild=args.rebuild)
    print(f"{cache!r} at {cache.path} (built in {cache.build_seconds:.1f} s)")
    return 0


def _data_bench(args) -> int:
    from .data.bench import run

    targets = args.targets.split("+")
    row = run(args.size, args.batch_size, args.batches, targets[0] if len(targets) == 1 else tuple(targets),
              out=args.out)
    if args.json:
        print(json.dumps(row))
    else:
        print(f"LSPET: {row['people']} people loaded in {row['load_s']} s; crop cache at {row['input_size']}^2 "
              f"built in {row['cache_build_s']} s (load + cache {row['load_and_cache_s']} s)")
        print(f"cached batches, augmentation + {row['targets']} targets: {row['samples_per_s']} samples/s "
              f"({row['samples']} samples, batch {row['batch_size']}) on {row['cpu']}, {row['cores']} cores")
    return 0


def _weights_import(args) -> int:
    from .weights import port

    path = port(args.name, source=args.source, out=args.out)
    print(f"{args.name}: ported to {path}")
    return 0


def _weights_list(args) -> int:
    from .weights import PRETRAINED, ported_path

    for name, spec in PRETRAINED.items():
        path = ported_path(name)
        print(f"{name:20s} {spec['family']:15s} {path if path.exists() else 'not ported yet'}")
    return 0


def _ablate(args) -> int:
    from .experiments import run_study

    variants = args.variants.split(",") if args.variants else None
    rows = run_study(args.study, args.scale, args.out, force=args.force, variants=variants,
                     save_dir=args.save_models)
    out = args.out or f"results/{args.study}.csv"
    if not rows:
        print(f"{args.study}: every variant is already in {out} (use --force to train again)")
    for row in rows:
        print(f"{row['variant']:36s} PCKh@0.5 {row['pckh@0.5']:6.2f}  PCKh@0.1 {row['pckh@0.1']:6.2f}  "
              f"params {row['params']:,}  train {row['train_s']:.0f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kerasgp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="find, fetch, cache and benchmark the pose data sets")
    dsub = data.add_subparsers(dest="action", required=True)
    p = dsub.add_parser("info", help="where each data set was found")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_data_info)
    p = dsub.add_parser("fetch", help="download a data set (checks sha256)")
    p.add_argument("name")
    p.add_argument("--dest", help="folder to download into (default: the project's data/)")
    p.add_argument("--force", action="store_true", help="download even if the data set is found")
    p.set_defaults(func=_data_fetch)
    p = dsub.add_parser("cache", help="build the crop cache of a data set")
    p.add_argument("name")
    p.add_argument("--split", default=None)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--rebuild", action="store_true")
    p.set_defaults(func=_data_cache)
    p = dsub.add_parser("bench", help="time LSPET load + cache build and the augmented batch rate")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--batches", type=int, default=None, help="batches to time (default: one epoch of train)")
    p.add_argument("--targets", default="heatmap", help="heatmap, simcc, coords, or several joined by +")
    p.add_argument("--out", default="results/data_pipeline.csv")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_data_bench)
    p = sub.add_parser("ablate", help="train every variant of a study under one recipe; one CSV row each")
    p.add_argument("study")
    p.add_argument("--scale", default=os.environ.get("KERASGP_SCALE", "lesson"), choices=["lesson", "full", "smoke"],
                   help="lesson (2-core CPU), full (GPU), smoke (tests); default $KERASGP_SCALE or lesson")
    p.add_argument("--out", help="CSV to append to (default results/STUDY.csv)")
    p.add_argument("--force", action="store_true", help="train variants already in the CSV again")
    p.add_argument("--variants", help="comma-separated subset of the study's variants")
    p.add_argument("--save-models", default="data/models", help="folder for the trained .keras files ('' for none)")
    p.set_defaults(func=_ablate)
    weights = sub.add_parser("weights", help="port pretrained PyTorch backbones into kerasgp")
    wsub = weights.add_subparsers(dest="action", required=True)
    p = wsub.add_parser("import", help="port a PyTorch state dict (needs torch)")
    p.add_argument("name", help="shufflenet_v2_x0.5 or mobilenet_v2")
    p.add_argument("--source", help="the .pth/.pt file (default: found by the data-root lookup)")
    p.add_argument("--out", help="where to write the .npz (default: $KERASGP_WEIGHTS or ~/.cache/kerasgp/weights)")
    p.set_defaults(func=_weights_import)
    p = wsub.add_parser("list", help="the pretrained weights and whether they are ported")
    p.set_defaults(func=_weights_list)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not our output
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
