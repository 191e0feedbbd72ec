"""`python -m kerasgp ...`: the workbook's command line (README, "Command line").

Each handler imports what it runs inside itself, on purpose: `python -m kerasgp --help`, `data fetch` and
`bench` (on a board with only numpy and LiteRT) must start without loading Keras, TensorFlow or torch.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import data, deploy, exercises, studies, train, weights

GROUPS = (train, data, weights, deploy, studies, exercises)  # the order of `--help`


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kerasgp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not our output
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
