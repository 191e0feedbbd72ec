"""Deployment: export to TFLite, the deployment study, the int8 probe, BlazePose beside ours, scoring a saved
model, the bench and the ARM check. Handlers import what they run inside themselves (see `kerasgp.cli`)."""
from __future__ import annotations

import json
import sys


def _export(args) -> int:
    from pathlib import Path

    from ..deploy.tflite import convert_file

    # int8 needs calibration inputs; training crops of LSPET at the model's input size unless told otherwise
    representative = args.representative or ("lspet" if args.mode == "int8" else None)
    out = args.out or str(Path(args.model).with_name(f"{Path(args.model).stem}_{args.mode}.tflite"))
    float_layers = None if args.float_layers is None else [n for n in args.float_layers.split(",") if n and n != "none"]
    if float_layers and args.mode != "int8":
        raise SystemExit("--float-layers applies to --mode int8 (the other modes keep every op float)")
    if args.flip_test and not args.deployable:
        raise SystemExit("--flip-test converts the deployable form of a pose model: add --deployable")
    if args.deployable:  # the pose model as it ships: keypoints in pixels + confidence, decoding inside
        from ..deploy.tflite import convert, load_keras
        from ..pose.decoding import deployable_model, with_flip_test

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

    from ..experiments import deployment

    paths = sorted({p for pattern in args.models for p in (glob.glob(pattern) or [pattern])})
    frame = deployment.run(paths, out=args.out, threads=[int(t) for t in args.threads.split(",")], runs=args.runs,
                           seed_rows=not args.no_seed_rows, limit=args.limit, append=args.append,
                           flip_test=args.flip_test, rounds=args.rounds, keep=args.keep or None, log=args.log or None)
    shown = ["model", "family", "input_size", "pckh05_keras", "pckh05_float32", "pckh05_int8", "int8_drop",
             "threads", "float32_ms", "int8_ms", "int8_speedup", "float32_spread_pct", "int8_spread_pct", "busy"]
    print(frame[shown].to_string(index=False))
    return 0

def _int8_probe(args) -> int:
    from ..experiments import int8_probe

    variants = args.variants.split(",") if args.variants else None
    frame = int8_probe.run(args.model, out=args.out or None, variants=variants, threads=args.threads.split(","),
                           rounds=args.rounds, runs=args.runs, limit=args.limit, progress=not args.no_progress)
    shown = ["variant", "float_layer_count", "calibration", "pckh05_float32", "pckh05_int8", "int8_drop", "threads",
             "float32_ms", "int8_ms", "int8_speedup", "busy"]
    print(frame[shown].to_string(index=False))
    return 0

def _blazepose(args) -> int:
    import glob

    from ..experiments import blazepose

    paths = sorted({p for pattern in args.models for p in (glob.glob(pattern) or [pattern])})
    frame = blazepose.run(paths, out=args.out or None, blazepose=args.blazepose, threads=args.threads.split(","),
                          rounds=args.rounds, runs=args.runs, limit=args.limit, progress=not args.no_progress)
    shown = ["model", "kind", "crop", "input_size", "pckh05_limbs", "pckh01_limbs", "pckh05_all", "threads",
             "median_ms", "spread_pct", "busy"]
    print(frame[shown].to_string(index=False))
    return 0

def _evaluate(args) -> int:
    from ..pose import evaluate_file

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
    from ..deploy.bench import append_csv, format_row, measure_rounds

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

    from ..deploy.arm import ArmEnvironmentError, environment, run

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


def register(sub) -> None:
    """Add this group's sub-commands to the `python -m kerasgp` parser."""
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
