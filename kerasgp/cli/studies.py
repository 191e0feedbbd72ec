"""The architecture studies: backbone latency, ShuffleNetV2's guidelines, QuadraNet's blocks and its search. Handlers
import what they run inside themselves (see `kerasgp.cli`)."""
from __future__ import annotations

import os


def _latency(args) -> int:
    import pandas as pd

    from ..experiments.latency import run

    frame = run(tuple(s for s in args.backbones.split(",") if s.strip()), input_size=args.size,
                threads=tuple(int(t) for t in args.threads.split(",")), runs=args.runs, out=args.out or None,
                log=args.log or None, progress=not args.no_progress, rounds=args.rounds)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(frame.drop(columns=["cpu", "arch", "date"]).to_string(index=False))
    print(f"{frame['cpu'].iloc[0]} ({frame['arch'].iloc[0]}), {frame['runtime'].iloc[0]}")
    return 0

def _guidelines(args) -> int:
    import pandas as pd

    from ..experiments.guidelines import PAPER, run, table

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

    from ..experiments.quadranet import BLOCK_TYPES, compare_blocks

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
    from ..experiments import search

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
        from ..experiments.study_latency import study_latency

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


def register(sub) -> None:
    """Add this group's sub-commands to the `python -m kerasgp` parser."""
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
