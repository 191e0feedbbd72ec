"""Run a `.tflite` model on stored input tensors and keep its raw output tensors: the half of
`python -m kerasgp arm-check` that runs inside the emulated ARM Python.

    python -m kerasgp.deploy.replay MODEL.tflite INPUTS.npy OUT.npz [--no-xnnpack]

INPUTS.npy holds (N, *input shape without the batch) tensors already in the model's input type (int8 for a
full-int8 model), so both machines get the very same bytes; OUT.npz gets each output as (N, ...) in its raw
type (quantised units for int8) plus `info`, a JSON string: runtime, whether XNNPACK ran, the CPU features
the process sees and the machine. Like the bench, it imports numpy and a TFLite interpreter only.
"""
from __future__ import annotations

import json
import platform
import struct
import sys
import time

import numpy as np

from .bench import delegated, load_runtime, make_interpreter

# Linux's AT_HWCAP / AT_HWCAP2 bits on aarch64 (arch/arm64/include/uapi/asm/hwcap.h) for the instructions
# int8 kernels are chosen by: XNNPACK and ruy read the same bits (getauxval) to pick their micro-kernels.
AT_HWCAP, AT_HWCAP2 = 16, 26
HWCAP_BITS = {"asimd": (AT_HWCAP, 1), "asimdhp": (AT_HWCAP, 10), "asimddp": (AT_HWCAP, 20),
              "sve": (AT_HWCAP, 22), "asimdfhm": (AT_HWCAP, 23), "i8mm": (AT_HWCAP2, 13), "sme": (AT_HWCAP2, 23)}


def cpu_features() -> list[str]:
    """The aarch64 features of HWCAP_BITS this process has (from /proc/self/auxv); [] on other machines."""
    if platform.machine() not in ("aarch64", "arm64"):
        return []
    try:
        with open("/proc/self/auxv", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    pairs = dict(struct.iter_unpack("<QQ", raw[: len(raw) // 16 * 16]))
    return [name for name, (key, bit) in HWCAP_BITS.items() if pairs.get(key, 0) >> bit & 1]


def kernels(features) -> str:
    """Which int8 GEMM kernels XNNPACK picks on such a CPU, as far as its features tell."""
    if "i8mm" in features:
        return "NEON i8mm"
    if "asimddp" in features:
        return "NEON dot-product (SDOT)"
    if "asimd" in features:
        return "NEON (no dot-product)"
    return _x86_kernels() if platform.machine() in ("x86_64", "AMD64") else platform.machine()


def _x86_kernels() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        flags = []
    for flag, name in (("avx512_vnni", "AVX-512 VNNI"), ("avx_vnni", "AVX-VNNI"), ("avx512bw", "AVX-512"),
                       ("avx2", "AVX2")):
        if flag in flags:
            return f"x86 {name}"
    return "x86 SSE"


def replay(model, inputs: np.ndarray, threads: int = 1, xnnpack: bool = True):
    """(outputs by name, each (N, ...) in its raw type; info) of `model` (path or bytes) on `inputs`.
    xnnpack=False: the runtime's built-in kernels instead of its default delegate."""
    module, runtime = load_runtime()
    interpreter = make_interpreter(model, threads, xnnpack, runtime=module)
    runner = interpreter.get_signature_runner()
    (name, detail), = runner.get_input_details().items()
    expected = tuple(int(d) for d in detail["shape"][1:])
    if inputs.shape[1:] != expected or inputs.dtype != np.dtype(detail["dtype"]):
        raise ValueError(f"the model takes ({', '.join(map(str, expected))}) {np.dtype(detail['dtype']).name} "
                         f"tensors; the inputs are {inputs.shape[1:]} {inputs.dtype}")
    outputs: dict[str, list] = {key: [] for key in runner.get_output_details()}
    start = time.perf_counter()
    for tensor in inputs:
        for key, value in runner(**{name: tensor[None]}).items():
            outputs[key].append(value)
    seconds = time.perf_counter() - start
    features = cpu_features()
    info = {"runtime": runtime, "xnnpack": delegated(interpreter), "features": features,
            "kernels": kernels(features), "arch": platform.machine(), "python": platform.python_version(),
            "numpy": np.__version__, "seconds_per_invoke": seconds / max(len(inputs), 1)}
    return {key: np.concatenate(parts) for key, parts in outputs.items()}, info


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    xnnpack = "--no-xnnpack" not in args
    args = [a for a in args if a != "--no-xnnpack"]
    if len(args) != 3:
        print("usage: python -m kerasgp.deploy.replay MODEL.tflite INPUTS.npy OUT.npz [--no-xnnpack]", file=sys.stderr)
        return 2
    model, inputs, out = args
    outputs, info = replay(model, np.load(inputs), xnnpack=xnnpack)
    np.savez(out, info=np.array(json.dumps(info)), **{f"output:{k}": v for k, v in outputs.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
