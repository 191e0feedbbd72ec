"""Training: the tour, the ablation runner and its data-parallel scaling. Handlers import what they run inside
themselves (see `kerasgp.cli`)."""
from __future__ import annotations

import os


def _tour(args) -> int:
    from ..experiments.tour import format_table, run

    rows = run(args.people, args.val_people, args.epochs, args.out, progress=not args.no_progress)
    print(format_table(rows))
    return 0

def _ablate(args) -> int:
    if args.cpu_devices:  # before the backend starts
        from ..experiments.distribute import simulate_cpu_devices

        simulate_cpu_devices(args.cpu_devices)
    from ..experiments import run_study

    if args.workers < 1:
        raise ValueError(f"--workers needs a count >= 1; got {args.workers}")
    variants = args.variants.split(",") if args.variants else None
    rows = run_study(args.study, args.scale, args.out, force=args.force, variants=variants,
                     save_dir=args.save_models, data=args.data, devices=args.devices, workers=args.workers,
                     batch_size=args.batch_size, seeds=_seeds(args.seeds))
    out = args.out or (f"results/{args.study}-{args.data}.csv" if args.data else f"results/{args.study}.csv")
    if not rows:
        print(f"{args.study}: every variant is already in {out} (use --force to train again)")
    for row in rows:
        # COCO rows carry OKS AP instead of PCKh (no head size); a metric a row lacks is "" in it
        metrics = (("OKS AP", "oks_ap"), ("OKS AR", "oks_ar")) if row.get("oks_ap", "") != "" else \
            (("PCKh@0.5", "pckh@0.5"), ("PCKh@0.1", "pckh@0.1"))
        shown = "  ".join(f"{label} {row[key]:6.2f}" if row[key] != "" else f"{label}    n/a" for label, key in metrics)
        print(f"{row['variant']:36s} {shown}  params {row['params']:,}  train {row['train_s']:.0f} s")
    if rows:
        print(f"rows{f' on {args.data}' if args.data else ''} in {out}")
    return 0

def _seeds(text: str | None):
    if text is None:
        return None
    try:
        return [int(seed) for seed in text.split(",")]
    except ValueError:
        raise ValueError(f"--seeds takes whole numbers joined by commas, e.g. 0,1,2; got {text!r}") from None

def _scaling(args) -> int:
    from ..experiments.scaling import run

    counts = [int(c) for c in args.devices.split(",")]
    for row in run(counts, args.backend, args.study, args.variant, args.people, args.epochs, args.workers, args.out,
                   scale=args.scale):
        print(f"{row['backend']:10s} {row['engine']:34s} {row['devices']} device(s), batch {row['batch_size']} "
              f"({row['per_device_batch']} each): {row['steady_samples_per_s']} samples/s")
    print(f"rows in {args.out} (CPU devices share this machine's cores: correctness and overhead, not speed-up)")
    return 0


def register(sub) -> None:
    """Add this group's sub-commands to the `python -m kerasgp` parser."""
    p = sub.add_parser("tour", help="the workbook in a few minutes: fetch LSPET if missing, train the base recipe "
                       "small, score it, export int8, time it, print one table")
    p.add_argument("--people", type=int, default=1024, help="LSPET train people (default %(default)s)")
    p.add_argument("--val-people", type=int, default=256, help="LSPET val people scored (default %(default)s)")
    p.add_argument("--epochs", type=int, default=5, help="(default %(default)s)")
    p.add_argument("--out", default="data/tour", help="folder for the .keras and .tflite files (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_tour)
    p = sub.add_parser("ablate", help="train every variant of a study under one recipe; one CSV row each")
    p.add_argument("study")
    p.add_argument("--scale", default=os.environ.get("KERASGP_SCALE", "lesson"), choices=["lesson", "full", "smoke"],
                   help="lesson (2-core CPU), full (GPU), smoke (tests); default $KERASGP_SCALE or lesson")
    p.add_argument("--out", help="CSV to append to (default results/STUDY.csv)")
    p.add_argument("--force", action="store_true", help="train variants already in the CSV again")
    p.add_argument("--variants", help="comma-separated subset of the study's variants")
    p.add_argument("--save-models", default="data/models", help="folder for the trained .keras files ('' for none)")
    p.add_argument("--data", help="train and score every variant on this data set instead of the recipe's (e.g. "
                   "coco2017: its train subset and val2017, OKS AP); rows go to results/STUDY-DATA.csv and record "
                   "it in their overrides")
    p.add_argument("--devices", default="1", help="data-parallel training: 'all' or a device count (JAX: "
                   "keras.distribution.DataParallel; TensorFlow: MirroredStrategy); the recipe's batch_size is the "
                   "global batch, split evenly, learning rate unchanged (default 1)")
    p.add_argument("--cpu-devices", type=int, default=None, metavar="N",
                   help="split this machine's CPU into N devices first, to check --devices without accelerators "
                   "(correctness, not speed: they share the same cores)")
    p.add_argument("--workers", type=int, default=1, help="threads that make the augmented batches (default 1)")
    p.add_argument("--seeds", default=None, metavar="0,1,2",
                   help="train every variant once per seed, one row each (default: the recipe's seed, 0); rows "
                   "already in the CSV are skipped, so adding seeds trains only the new ones")
    p.add_argument("--batch-size", type=int, default=None, metavar="B",
                   help="global batch instead of the recipe's, the learning rate scaled by B / the recipe's batch "
                   "(linear rule); the overrides record both. With --devices N: B / N per device")
    p.set_defaults(func=_ablate)
    p = sub.add_parser("scaling", help="samples/s of data-parallel training per (simulated CPU) device count")
    p.add_argument("--devices", default="1,2,4", help="device counts, each in a process of its own (default 1,2,4)")
    p.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax"])
    p.add_argument("--study", default="heads")
    p.add_argument("--variant", default="sa_simdr_sigma6_rle")
    p.add_argument("--scale", default="lesson", choices=["lesson", "full"],
                   help="the recipe's scale (full: 256², batch 64)")
    p.add_argument("--people", type=int, default=1024, help="LSPET train people per epoch (default 1024)")
    p.add_argument("--epochs", type=int, default=3, help="epochs; the first compiles and is not timed (default 3)")
    p.add_argument("--workers", type=int, default=1, help="threads making the batches, as ablate --workers")
    p.add_argument("--out", default="results/data_parallel.csv")
    p.set_defaults(func=_scaling)
