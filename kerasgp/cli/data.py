"""Data sets: where they were found, fetching, the crop cache and the input pipeline's benchmark. Handlers import
what they run inside themselves (see `kerasgp.cli`)."""
from __future__ import annotations

import json
import sys


def _data_info(args) -> int:
    from ..data import data_roots, info

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
    from ..data.download import one_line
    from ..data.sources import existing, fetch

    options = {"people": args.people, "val_people": args.val_people}
    try:
        if not args.force and all(v is None for v in options.values()):
            found = existing(args.name, args.dest)
            if found is not None:
                print(f"{args.name}: already complete at {found} (--force fetches it again)")
                return 0
        path = fetch(args.name, dest_root=args.dest, force=args.force, progress=not args.no_progress, **options)
    except (OSError, ValueError) as e:  # DownloadError, ChecksumError: each URL and why, on one line
        print("error: " + one_line(e), file=sys.stderr)
        return 2
    print(f"{args.name}: {path}")
    return 0

def _data_cache(args) -> int:
    from ..data import build_cache, load

    people = load(args.name, split=args.split)
    print(people.report)
    cache = build_cache(people, (args.size, args.size), rebuild=args.rebuild)
    print(f"{cache!r} at {cache.path} (built in {cache.build_seconds:.1f} s)")
    return 0

def _data_bench(args) -> int:
    from ..data.bench import run

    targets = args.targets.split("+")
    row = run(args.size, args.batch_size, args.batches, targets[0] if len(targets) == 1 else tuple(targets),
              out=args.out, workers=args.workers)
    if args.json:
        print(json.dumps(row))
    else:
        print(f"LSPET: {row['people']} people loaded in {row['load_s']} s; crop cache at {row['input_size']}^2 "
              f"built in {row['cache_build_s']} s (load + cache {row['load_and_cache_s']} s)")
        print(f"cached batches, augmentation + {row['targets']} targets: {row['samples_per_s']} samples/s "
              f"({row['samples']} samples, batch {row['batch_size']}, {row['workers']} worker(s)) on {row['cpu']}, "
              f"{row['cores']} cores")
    return 0


def register(sub) -> None:
    """Add this group's sub-commands to the `python -m kerasgp` parser."""
    data = sub.add_parser("data", help="find, fetch, cache and benchmark the pose data sets")
    dsub = data.add_subparsers(dest="action", required=True)
    p = dsub.add_parser("info", help="where each data set was found")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_data_info)
    p = dsub.add_parser("fetch", help="download a data set (sizes and sha256 checked before anything is "
                        "put in place; KERASGP_MIRROR is tried first)")
    p.add_argument("name")
    p.add_argument("--dest", help="folder to download into (default: the project's data/)")
    p.add_argument("--force", action="store_true", help="download even if the data set is complete")
    p.add_argument("--people", type=int, help="data sets fetched as a subset (coco2017, mpii): training people")
    p.add_argument("--val-people", type=int, help="data sets fetched as a subset: validation people")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
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
    p.add_argument("--workers", type=int, default=1, help="threads making batches at once, as ablate --workers")
    p.add_argument("--out", default="results/data_pipeline.csv")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_data_bench)
