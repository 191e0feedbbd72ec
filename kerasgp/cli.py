"""`python -m kerasgp ...`: the workbook's command line (README, "Command line").

Each handler imports what it runs inside itself, on purpose: `python -m kerasgp --help`, `data fetch` and
`bench` (on a board with only numpy and LiteRT) must start without loading Keras, TensorFlow or torch.
"""
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
    from .data.download import one_line
    from .data.sources import existing, fetch

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


def _weights_import(args) -> int:
    from .backbones import port

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
    if args.cpu_devices:  # before the backend starts
        from .experiments.distribute import simulate_cpu_devices

        simulate_cpu_devices(args.cpu_devices)
    from .experiments import run_study

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
    from .experiments.scaling import run

    counts = [int(c) for c in args.devices.split(",")]
    for row in run(counts, args.backend, args.study, args.variant, args.people, args.epochs, args.workers, args.out,
                   scale=args.scale):
        print(f"{row['backend']:10s} {row['engine']:34s} {row['devices']} device(s), batch {row['batch_size']} "
              f"({row['per_device_batch']} each): {row['steady_samples_per_s']} samples/s")
    print(f"rows in {args.out} (CPU devices share this machine's cores: correctness and overhead, not speed-up)")
    return 0


def _export(args) -> int:
    from pathlib import Path

    from .deploy.tflite import convert_file

    # int8 needs calibration inputs; training crops of LSPET at the model's input size unless told otherwise
    representative = args.representative or ("lspet" if args.mode == "int8" else None)
    out = args.out or str(Path(args.model).with_name(f"{Path(args.model).stem}_{args.mode}.tflite"))
    float_layers = None if args.float_layers is None else [n for n in args.float_layers.split(",") if n and n != "none"]
    if float_layers and args.mode != "int8":
        raise SystemExit("--float-layers applies to --mode int8 (the other modes keep every op float)")
    if args.flip_test and not args.deployable:
        raise SystemExit("--flip-test converts the deployable form of a pose model: add --deployable")
    if args.deployable:  # the pose model as it ships: keypoints in pixels + confidence, decoding inside
        from .deploy.tflite import convert, load_keras
        from .pose.decoding import deployable_model, with_flip_test

        shipped = (with_flip_test if args.flip_test else deployable_model)(load_keras(args.model))
        conversion = convert(shipped, args.mode, representative, args.samples, out, float_layers)
    else:
        conversion = convert_file(args.model, args.mode, representative, args.samples, out, float_layers)
    if args.mode == "int8":
        print(f"calibrated on {args.samples} representative inputs from {representative}")
    print(conversion.summary())
    return 0


def _deploy_study(args) -> int:
    import glob

    from .experiments import deployment

    paths = sorted({p for pattern in args.models for p in (glob.glob(pattern) or [pattern])})
    frame = deployment.run(paths, out=args.out, threads=[int(t) for t in args.threads.split(",")], runs=args.runs,
                           seed_rows=not args.no_seed_rows, limit=args.limit, append=args.append,
                           flip_test=args.flip_test, rounds=args.rounds, keep=args.keep or None, log=args.log or None)
    shown = ["model", "family", "input_size", "pckh05_keras", "pckh05_float32", "pckh05_int8", "int8_drop",
             "threads", "float32_ms", "int8_ms", "int8_speedup", "float32_spread_pct", "int8_spread_pct", "busy"]
    print(frame[shown].to_string(index=False))
    return 0


def _blazepose(args) -> int:
    import glob

    from .experiments import blazepose

    paths = sorted({p for pattern in args.models for p in (glob.glob(pattern) or [pattern])})
    frame = blazepose.run(paths, out=args.out or None, blazepose=args.blazepose, threads=args.threads.split(","),
                          rounds=args.rounds, runs=args.runs, limit=args.limit, progress=not args.no_progress)
    shown = ["model", "kind", "crop", "input_size", "pckh05_limbs", "pckh01_limbs", "pckh05_all", "threads",
             "median_ms", "spread_pct", "busy"]
    print(frame[shown].to_string(index=False))
    return 0


def _int8_probe(args) -> int:
    from .experiments import int8_probe

    variants = args.variants.split(",") if args.variants else None
    frame = int8_probe.run(args.model, out=args.out or None, variants=variants, threads=args.threads.split(","),
                           rounds=args.rounds, runs=args.runs, limit=args.limit, progress=not args.no_progress)
    shown = ["variant", "float_layer_count", "calibration", "pckh05_float32", "pckh05_int8", "int8_drop", "threads",
             "float32_ms", "int8_ms", "int8_speedup", "busy"]
    print(frame[shown].to_string(index=False))
    return 0


def _exercises(args) -> int:
    from .exercises import course

    written = course.write_course(args.course, args.lessons or None)
    for path in written:
        print(path)
    print(f"{len(written)} source notebooks with their solutions; next, in {args.course}: "
          "nbgrader generate_assignment lessons (instructor/README.md)")
    return 0


def _evaluate(args) -> int:
    from .pose import evaluate_file

    # --flip-test applies to .keras files; a .tflite runs as exported (with the flip test inside or not)
    flip = lambda path: args.flip_test and str(path).endswith(".keras")  # noqa: E731
    result = evaluate_file(args.model, args.data, root=args.root, split=args.split, limit=args.limit,
                           batch_size=args.batch_size, flip_test=flip(args.model))
    if args.against:  # the float model on the same people: the drop a conversion cost
        reference = evaluate_file(args.against, args.data, root=args.root, split=args.split, limit=args.limit,
                                  batch_size=args.batch_size, flip_test=flip(args.against))
        keys = [key for key in ("pckh@0.5", "pckh@0.1", "AP") if key in result and key in reference]
        result["against"] = {"model": str(args.against), **{key: reference[key] for key in keys},
                             **{f"{key}_drop": reference[key] - result[key] for key in keys}}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['model']} on {result['data']} ({result['split'] or 'all'}): {result['people']} people at "
          f"{result['input_size'][0]}x{result['input_size'][1]}")
    if "AP" in result:
        print("  ".join(f"{key} {result[key]:.3f}" for key in ("AP", "AP50", "AP75", "AR")))
    else:
        official = f"  MPII's official PCKh@0.5 (no pelvis, thorax) {result['pckh@0.5_official']:.2f}" \
            if "pckh@0.5_official" in result else ""
        print(f"PCKh@0.5 {result['pckh@0.5']:.2f}  PCKh@0.1 {result['pckh@0.1']:.2f}  PCK@0.2 {result['pck@0.2']:.2f}"
              + official)
        print("  ".join(f"{joint} {value:.1f}" for joint, value in result["per_joint_pckh@0.5"].items()))
    if args.against:
        against = result["against"]
        print(f"against {against['model']}: " + "  ".join(
            f"{key} {against[key]:.2f} (drop {against[key + '_drop']:+.2f})" for key in against
            if key != "model" and not key.endswith("_drop")))
    return 0


def _bench(args) -> int:
    # Imports numpy and a TFLite interpreter only: this runs on a Raspberry Pi without Keras or TensorFlow.
    from .deploy.bench import append_csv, format_row, measure_rounds

    if args.rounds < 1 or args.runs < 1:
        raise ValueError(f"need --rounds >= 1 and --runs >= 1; got --rounds {args.rounds}, --runs {args.runs}")
    args.rounds = min(args.rounds, args.runs)
    # Several models are timed against each other in interleaved rounds (bench.measure_rounds); --runs is
    # the total per model, split evenly over the rounds.
    rows = measure_rounds(args.models, threads=args.threads, rounds=args.rounds, runs=args.runs // args.rounds,
                          warmup=args.warmup, xnnpack=not args.no_xnnpack)
    for row in rows:
        row["tag"] = args.tag
        path = append_csv(row, args.csv) if args.csv else None
        print(json.dumps(row) if args.json else format_row(row))
    if path and not args.json:
        print(f"appended to {path}")
    return 0


def _arm_check(args) -> int:
    import pandas as pd

    from .deploy.arm import ArmEnvironmentError, environment, run

    try:
        if args.setup:
            env = environment(args.env or None)
            print(f"emulated arm64 environment ready in {env.folder}")
            if not args.models:
                return 0
        if not args.models:
            raise ValueError("give the int8 .tflite models to check (or --setup alone to build the environment)")
        frame = run(args.models, cpus=tuple(c.strip() for c in args.cpus.split(",") if c.strip()), limit=args.limit,
                    out=args.out or None, folder=args.env or None, progress=not args.no_progress,
                    xnnpack=not args.no_xnnpack)
    except ArmEnvironmentError as error:
        print(f"arm-check: {error}", file=sys.stderr)
        return 1
    columns = ["model", "cpu_model", "kernels", "people", "max_diff_units", "differing_values", "max_diff_px",
               "pckh05_arm", "pckh05_x86", "bench"]
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 40):
        print(frame[columns].to_string(index=False))
    if args.out:
        print(f"written to {args.out}")
    return 0


def _latency(args) -> int:
    import pandas as pd

    from .experiments.latency import run

    frame = run(tuple(s for s in args.backbones.split(",") if s.strip()), input_size=args.size,
                threads=tuple(int(t) for t in args.threads.split(",")), runs=args.runs, out=args.out or None,
                log=args.log or None, progress=not args.no_progress, rounds=args.rounds)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(frame.drop(columns=["cpu", "arch", "date"]).to_string(index=False))
    print(f"{frame['cpu'].iloc[0]} ({frame['arch'].iloc[0]}), {frame['runtime'].iloc[0]}")
    return 0


def _guidelines(args) -> int:
    import pandas as pd

    from .experiments.guidelines import PAPER, run, table

    def listed(text, kind, cast=str):
        try:
            return tuple(cast(item.strip()) for item in text.split(",") if item.strip())
        except ValueError:
            raise ValueError(f"--{kind} takes a comma-separated list such as 1,2,4; got {text!r}") from None

    frame = run(guidelines=listed(args.only.upper(), "only"), scales=listed(args.scales, "scales", int),
                runtimes=listed(args.runtimes, "runtimes"), runs=args.runs, out=args.out or None,
                progress=not args.no_progress, widths=args.widths)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        for guideline in dict.fromkeys(frame["guideline"]):
            spec = PAPER[guideline]
            print(f"\n{guideline}, Table {spec['table']}: {spec['title']}")
            print("images/s (the paper: GPU batches/s, ARM images/s)")
            print(table(frame, guideline).round(1).to_string())
            print("speed relative to the first setting (the table's point)")
            print(table(frame, guideline, "relative_speed").round(2).to_string())
    first = frame.iloc[0]
    print(f"\n{len(frame)} timings on {first['device']} ({first['arch']}); widths of the paper's "
          f"{args.widths.upper()} column" + (f"; written to {args.out}" if args.out else ""))
    return 0


def _quadranet_blocks(args) -> int:
    import pandas as pd

    from .experiments.quadranet import BLOCK_TYPES, compare_blocks

    started = os.getloadavg()
    rows = compare_blocks(blocks=tuple(b.strip() for b in args.blocks.split(",") if b.strip()) or BLOCK_TYPES,
                          channels=tuple(int(c) for c in args.channels.split(",") if c.strip()), size=args.size,
                          depth=args.depth, batch=args.batch, norm=args.norm, steps=args.steps, rounds=args.rounds,
                          warmup=args.warmup,
                          tflite_runs=args.tflite_runs, memory=not args.no_memory, tflite=not args.no_tflite,
                          out=args.out or None, progress=not args.no_progress)
    shown = ["block", "channels", "params", "stored_for_backward", "stored_vs_conv", "peak_delta_mb", "peak_vs_conv",
             "peak_vs_stored", "train_samples_per_s", "train_vs_conv", "infer_samples_per_s", "infer_vs_conv",
             "tflite_int8_ms", "tflite_vs_conv", "tflite_int8_builtin_ms", "tflite_builtin_vs_conv", "tflite_note"]
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 60):
        print(pd.DataFrame(rows)[[c for c in shown if c in rows[0]]].to_string(index=False))
    ended = os.getloadavg()
    print(f"{args.depth} blocks at {args.size}x{args.size}, batch {args.batch}, {rows[0]['backend']} on "
          f"{rows[0]['cpu']} ({rows[0]['cores']} cores); load average {started[0]:.2f} at the start, "
          f"{ended[0]:.2f} at the end" + (f"; written to {args.out}" if args.out else ""))
    return 0


def _search(args) -> int:
    from .experiments import search

    space = search.SearchSpace(args.width, tuple(int(p) for p in args.positions.split(",")), args.size)
    if args.action == "lut":
        rows = search.measure_lut(space, threads=args.threads, runs=args.runs, out=args.lut)
        print(f"{len(rows)} entries written to {args.lut} ({rows[0]['runtime']}, {args.threads} thread(s))")
        checks = {name: space.uniform(code) for name, code in (("uniform k7e4", "k7e4"), ("uniform k3e2", "k3e2"),
                                                                ("uniform k5e4", "k5e4"))}
        codes = [c for c in space.candidates]
        checks["mixed"] = space.arch([codes[i % len(codes)] for i in range(space.num_positions)])
        for row in search.check_lut(checks, space, args.lut, threads=args.threads, runs=args.runs):
            print(f"{row['name']:14s} {row['arch']:50s} predicted {row['predicted_ms']:7.3f} ms, measured "
                  f"{row['measured_ms']:7.3f} ms ({row['error_pct']:+.1f}%)")
        return 0
    if args.action == "hand":
        for row in search.hand_design_latency(space=space, threads=args.threads, runs=args.runs):
            print(f"{row['name']:14s} {row['params']:>9,} params  {row['median_ms']:7.3f} ms (p90 {row['p90_ms']:.3f})")
        return 0
    if args.action == "latency":
        from .experiments.study_latency import study_latency

        for row in study_latency(threads=args.threads, runs=args.runs):
            print(f"{row['variant']:32s} pose {row['pose_int8_ms']:7.3f} ms  backbone "
                  f"{row['backbone_int8_ms']:7.3f} ms  float ops {row['int8_float_ops']}")
        return 0
    result = search.search(space, args.lut, latency_weight=args.latency_weight, epochs=args.epochs,
                           people=args.people, image_size=args.image_size, logit_scale=args.logit_scale,
                           seed=args.seed, threads=args.threads, out=args.out, progress=not args.no_progress)
    print(f"found {result['arch_string']}: predicted {result['predicted_ms']} ms, measured {result['measured_ms']} ms "
          f"({result['runtime']}, {result['threads']} thread(s)); search {result['training']['seconds']} s; "
          f"written to {args.out}")
    return 0


def _tour(args) -> int:
    from .experiments.tour import format_table, run

    rows = run(args.people, args.val_people, args.epochs, args.out, progress=not args.no_progress)
    print(format_table(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kerasgp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tour", help="the workbook in a few minutes: fetch LSPET if missing, train the base recipe "
                       "small, score it, export int8, time it, print one table")
    p.add_argument("--people", type=int, default=1024, help="LSPET train people (default %(default)s)")
    p.add_argument("--val-people", type=int, default=256, help="LSPET val people scored (default %(default)s)")
    p.add_argument("--epochs", type=int, default=5, help="(default %(default)s)")
    p.add_argument("--out", default="data/tour", help="folder for the .keras and .tflite files (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_tour)
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
    weights = sub.add_parser("weights", help="port pretrained PyTorch backbones into kerasgp")
    wsub = weights.add_subparsers(dest="action", required=True)
    p = wsub.add_parser("import", help="port a PyTorch state dict (needs torch)")
    p.add_argument("name", help="shufflenet_v2_x0.5 or mobilenet_v2")
    p.add_argument("--source", help="the .pth/.pt file (default: found by the data-root lookup)")
    p.add_argument("--out", help="where to write the .npz (default: $KERASGP_WEIGHTS or ~/.cache/kerasgp/weights)")
    p.set_defaults(func=_weights_import)
    p = wsub.add_parser("list", help="the pretrained weights and whether they are ported")
    p.set_defaults(func=_weights_list)
    p = sub.add_parser("export", help="convert a .keras model to TFLite (float32, dynamic-range or full int8)")
    p.add_argument("model", help="a whole model saved as .keras (any backend; converted under TensorFlow)")
    p.add_argument("--mode", default="float32", choices=["float32", "dynamic", "int8"])
    p.add_argument("--out", help="the .tflite to write (default: MODEL_MODE.tflite beside the model)")
    p.add_argument("--representative", help="int8 calibration inputs: a data set name (default lspet: training "
                   "crops at the model's input size) or a .npy array (N, H, W, C)")
    p.add_argument("--samples", type=int, default=200, help="how many representative inputs calibrate (int8)")
    p.add_argument("--deployable", action="store_true", help="a pose model: convert its deployable form "
                   "(keypoints in input pixels and confidence, decoding inside; training-only outputs dropped)")
    p.add_argument("--float-layers", help="int8: comma-separated Keras layers (or inner_model/layer paths, or fnmatch "
                   "patterns such as 'mobilenet_v2_1.0/features_[0-6]_*') whose ops stay float, 'decoding' for the "
                   "default; default: SimCC's decoding and, for argmax, its logits (kerasgp.deploy."
                   "float_decoding_layers); 'none' quantises every op")
    p.add_argument("--flip-test", action="store_true", help="with --deployable: the model runs on the image and its "
                   "mirror and averages the two predictions (twice the cost; kerasgp.pose.flip_test_model)")
    p.set_defaults(func=_export)
    p = sub.add_parser("deploy-study", help="pose models in TFLite float32 and int8: LSPET val PCKh and latency")
    p.add_argument("models", nargs="+", help=".keras pose models (globs allowed), e.g. data/models/heads-*-lesson.keras")
    p.add_argument("--out", default="results/deployment.csv", help="default %(default)s")
    p.add_argument("--threads", default="1,2", help="thread counts to time (default %(default)s)")
    p.add_argument("--runs", type=int, default=100, help="timed invocations per model and mode (default %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds, --runs split over them "
                   "(default %(default)s)")
    p.add_argument("--keep", default="", help="a folder to keep the converted .tflite files in (for arm-check)")
    p.add_argument("--log", default="results/latency.csv", help="the bench log each timing is appended to ('' for "
                   "none; default %(default)s)")
    p.add_argument("--no-seed-rows", action="store_true", help="skip the seed's latency-only rows (256^2 heads, 320^2)")
    p.add_argument("--limit", type=int, help="score only the first N val people (a quick check)")
    p.add_argument("--append", action="store_true",
                   help="keep the rows already in --out (the models run now replace their own rows)")
    p.add_argument("--flip-test", action="store_true", help="deploy each model with the flip test inside (image and "
                   "mirror averaged, twice the cost); its rows are named MODEL+flip")
    p.set_defaults(func=_deploy_study)
    exercises = sub.add_parser("exercises", help="the lessons' exercises as an nbgrader course (instructors)")
    esub = exercises.add_subparsers(dest="exercises_command", required=True)
    p = esub.add_parser("source", help="write COURSE/source/lessons/*.ipynb: the lessons with their solutions filled "
                        "in, for nbgrader's generate_assignment and autograde")
    p.add_argument("course", help="the nbgrader course folder")
    p.add_argument("lessons", nargs="*", help="lesson notebooks (default: every lesson with exercises)")
    p.set_defaults(func=_exercises)
    p = sub.add_parser("int8-probe", help="where a pose model's int8 error comes from: full int8 with one group of "
                       "layers kept float at a time, scored on LSPET val and timed in interleaved rounds")
    p.add_argument("model", help="a .keras pose model with a MobileNetV2 backbone (the default groups are its blocks)")
    p.add_argument("--variants", help="comma-separated subset of kerasgp.experiments.int8_probe.VARIANTS (default all)")
    p.add_argument("--out", default="results/int8_probe.csv", help="default %(default)s ('' for none)")
    p.add_argument("--threads", default="1", help="thread counts to time (default %(default)s)")
    p.add_argument("--runs", type=int, default=500, help="timed invocations per file (default %(default)s)")
    p.add_argument("--rounds", type=int, default=10, help="interleaved timing rounds (default %(default)s)")
    p.add_argument("--limit", type=int, help="score only the first N val people (a quick check)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_int8_probe)
    p = sub.add_parser("blazepose", help="MediaPipe's BlazePose GHUM Full beside our models: PCKh on the 12 limb "
                       "joints of LSPET val, and latency in the same interleaved rounds")
    p.add_argument("models", nargs="*", default=["results/models/best-mobilenet_v2_160_more.keras",
                                                 "results/models/tricks-larger_input.keras"],
                   help="our .keras models (exported to float32 and int8) or .tflite files; globs allowed "
                   "(default: the two kept models)")
    p.add_argument("--out", default="results/blazepose.csv", help="default %(default)s ('' for none)")
    p.add_argument("--blazepose", help="BlazePose's pose_landmark_full.tflite (default: the fetched blazepose_full, "
                   "python -m kerasgp data fetch blazepose_full)")
    p.add_argument("--threads", default="1,2", help="thread counts to time (default %(default)s)")
    p.add_argument("--runs", type=int, default=500, help="timed invocations per model (default %(default)s)")
    p.add_argument("--rounds", type=int, default=10, help="interleaved timing rounds, --runs split over them "
                   "(default %(default)s)")
    p.add_argument("--limit", type=int, help="score only the first N val people (a quick check)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_blazepose)
    p = sub.add_parser("evaluate", help="PCKh (LSPET, LSP, MPII), PCK@0.2 (LSP) or OKS AP (COCO) of a saved .keras "
                       "or .tflite pose model")
    p.add_argument("model", help="a .keras pose model or a .tflite converted from one; run at its own input size")
    p.add_argument("--data", default="lspet", help="lspet, lsp, mpii, coco2017 (OKS AP with pycocotools), coco (the "
                   "COCO sample), mpii-sample, coco-mini (default %(default)s)")
    p.add_argument("--root", help="the data set's folder (default: the data-root lookup)")
    p.add_argument("--split", help="lspet: train, val, test (people 8,000-9,999) or all, default val; lsp: train or "
                   "test, default test; mpii, coco2017: train or val, default val")
    p.add_argument("--limit", type=int, help="only the first N people (a quick check)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--against", help="a reference model (the float .keras a .tflite came from): scored on the same "
                   "people, with the drop from it")
    p.add_argument("--flip-test", action="store_true", help="score .keras models with the flip test (image and mirror "
                   "averaged); a .tflite runs as it was exported")
    p.set_defaults(func=_evaluate)
    p = sub.add_parser("bench", help="latency of a .tflite model on this CPU (numpy + LiteRT/tflite-runtime only)")
    p.add_argument("models", nargs="+", help="the .tflite file(s); several are timed in interleaved rounds")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=100, help="timed invocations per model (default %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds the runs are split into; the median "
                   "is over round medians, the spread their range (default %(default)s)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--json", action="store_true", help="print the row as JSON")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--csv", default="results/latency.csv", help="CSV to append the row to (default %(default)s)")
    where.add_argument("--no-csv", dest="csv", action="store_const", const=None, help="append to no CSV")
    p.add_argument("--tag", default="", help="free text for the CSV's tag column")
    p.add_argument("--no-xnnpack", action="store_true", help="build the interpreter without its default delegate")
    p.set_defaults(func=_bench)
    p = sub.add_parser("arm-check", help="int8 .tflite models on ARM's own kernels (Pi 4, Pi 5) under QEMU, "
                       "compared with this machine on LSPET val")
    p.add_argument("models", nargs="*", help="int8 .tflite pose models")
    p.add_argument("--cpus", default="pi4,pi5", help="comma-separated CPU models: pi4 (Cortex-A72, NEON), "
                   "pi5 (Cortex-A76, dot-product) (default %(default)s)")
    p.add_argument("--limit", type=int, help="only the first N val people (a quick check; default all 2,000)")
    p.add_argument("--out", default="results/arm_check.csv", help="CSV to update ('' for none; default %(default)s)")
    p.add_argument("--env", default="", help="the emulated environment's folder (default $KERASGP_ARM_ENV or "
                   "~/.cache/kerasgp/arm64-bookworm)")
    p.add_argument("--setup", action="store_true", help="build (or check) the emulated environment")
    p.add_argument("--no-xnnpack", action="store_true", help="run both sides on the runtime's built-in kernels "
                   "instead of XNNPACK")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_arm_check)
    p = sub.add_parser("latency", help="time registry backbones: Keras CPU, TFLite float32 and int8")
    p.add_argument("--backbones", default=",".join(("shufflenet_v2_x0.5", "shufflenet_v2_x1.0", "shufflenet_v2_x1.5",
                                                     "shufflenet_v2_x2.0")),
                   help="comma-separated registry names, each optionally NAME:key=value;key=value (default the "
                   "ShuffleNetV2 family)")
    p.add_argument("--size", type=int, default=256, help="square input size (default %(default)s)")
    p.add_argument("--threads", default="1", help="comma-separated TFLite thread counts (default %(default)s)")
    p.add_argument("--runs", type=int, default=50, help="timed TFLite runs (default %(default)s)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds, --runs split over them "
                   "(default %(default)s)")
    p.add_argument("--out", default="results/backbone_latency.csv", help="CSV to write, overwritten ('' for none)")
    p.add_argument("--log", default="results/latency.csv", help="the bench log each TFLite timing is appended to "
                   "('' for none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_latency)
    p = sub.add_parser("guidelines", help="re-run ShuffleNetV2's guideline experiments G1-G4 (Sec. 2, Tables 1-4)")
    p.add_argument("--only", default="G1,G2,G3,G4", help="comma-separated guidelines (default %(default)s)")
    p.add_argument("--scales", default="1,2,4", help="comma-separated width multipliers (default %(default)s)")
    p.add_argument("--runtimes", default="keras,tflite-float32,tflite-int8", help="default %(default)s")
    p.add_argument("--runs", type=int, default=30, help="timed runs per network and runtime (default %(default)s)")
    p.add_argument("--widths", default="arm", choices=["arm", "gpu"],
                   help="the widths of the paper's ARM (default) or GPU column")
    p.add_argument("--out", default="results/guidelines.csv", help="CSV to write, overwritten ('' for none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_guidelines)
    p = sub.add_parser("quadranet-blocks", help="QuadraNet's Table II analogue: stored states, peak memory, "
                       "train/infer throughput and TFLite int8 latency of 24-block stacks of each block type")
    p.add_argument("--out", default="results/quadranet.csv", help="CSV to write, overwritten ('' for none)")
    p.add_argument("--batch", type=int, default=64, help="batch of the memory and throughput runs "
                   "(default %(default)s)")
    p.add_argument("--size", type=int, default=14, help="feature map size; the input is 4x (default %(default)s)")
    p.add_argument("--channels", default="64", help="comma-separated widths (default %(default)s)")
    p.add_argument("--depth", type=int, default=24, help="blocks per stack (default %(default)s)")
    p.add_argument("--blocks", default="conv,window_attention,gnconv,quadra,skip", help="default %(default)s")
    p.add_argument("--norm", default="layer", choices=["layer", "batch"], help="norm of every block and the stem")
    p.add_argument("--steps", type=int, default=1, help="timed train/predict calls per block and round (default "
                   "%(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="rounds in which the blocks take turns (default %(default)s)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls first (default %(default)s)")
    p.add_argument("--tflite-runs", type=int, default=10, help="timed TFLite invocations (default %(default)s)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess")
    p.add_argument("--no-tflite", action="store_true", help="skip the int8 conversion and its latency")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_quadranet_blocks)
    p = sub.add_parser("search", help="QuadraNet hardware-aware search: the latency table (lut) or the search (run)")
    p.add_argument("action", choices=["lut", "run", "hand", "latency"], help="lut: measure the latency table and "
                   "check it on whole networks; run: the differentiable search (needs the table); hand: time the "
                   "uniform k7e4 hand designs (results/search_hand.json); latency: TFLite int8 latency of the "
                   "quadranet_search study's pose models (results/quadranet_search_latency.csv)")
    p.add_argument("--width", type=int, default=16, help="C, the first stage's channels (default %(default)s)")
    p.add_argument("--positions", default="2,2,4,2", help="block positions per stage (default %(default)s)")
    p.add_argument("--size", type=int, default=128, help="deployment input size of the table (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="TFLite threads (default %(default)s)")
    p.add_argument("--runs", type=int, default=100, help="timed TFLite runs per entry (default %(default)s)")
    p.add_argument("--lut", default="results/quadranet_lut.csv", help="the latency table (default %(default)s)")
    p.add_argument("--out", default="results/search.json", help="run: the result JSON (default %(default)s)")
    p.add_argument("--latency-weight", type=float, default=0.5, help="run: lambda (default %(default)s)")
    p.add_argument("--epochs", type=int, default=5, help="run: supernet epochs (default %(default)s)")
    p.add_argument("--people", type=int, default=512, help="run: LSPET people of the rotation proxy (default "
                   "%(default)s)")
    p.add_argument("--image-size", type=int, default=64, help="run: proxy image size (default %(default)s)")
    p.add_argument("--logit-scale", type=float, default=10.0, help="run: alpha's step multiplier (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_search)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not our output
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
