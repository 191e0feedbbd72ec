"""What machine a figure came from (CPU model, cores, platform), and the tcmalloc preload. Imports nothing heavy."""
from __future__ import annotations

import os
import platform
import sys


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo ("model name"); on ARM boards, which print none, the board's
    ("Model", e.g. "Raspberry Pi 5 Model B Rev 1.0")."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields.get("model name") or fields.get("Model") or platform.processor() or platform.machine()


def describe() -> dict:
    return {"cpu": cpu_model(), "arch": platform.machine(), "cores": os.cpu_count(),
            "system": f"{platform.system()} {platform.release()}", "python": platform.python_version()}


# glibc's allocator returns the large activation buffers of each training step to the kernel and faults them
# back in on the next: on a 2-core VM that was half the CPU time. Preloading tcmalloc took a training step
# 1.66-1.74x faster here (README, "Training speed"). It must be loaded before the process starts, so the
# command line and the test suite restart themselves once with it when it is installed.
TCMALLOC = "libtcmalloc_minimal.so.4"
TCMALLOC_SWITCH = "KERASGP_TCMALLOC"  # "0": never preload


def tcmalloc_path() -> str | None:
    """The tcmalloc library to preload: Linux only (Debian/Ubuntu `libtcmalloc-minimal4`, Fedora
    `gperftools-libs`, conda-forge `gperftools`), else None. None also when KERASGP_TCMALLOC=0."""
    if not sys.platform.startswith("linux") or os.environ.get(TCMALLOC_SWITCH) == "0":
        return None
    folders = [os.path.join(os.environ["CONDA_PREFIX"], "lib")] if os.environ.get("CONDA_PREFIX") else []
    folders += [f"/usr/lib/{platform.machine()}-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"]
    for folder in folders:
        path = os.path.join(folder, TCMALLOC)
        if os.path.isfile(path):
            return path
    return None


def tcmalloc_preloaded() -> bool:
    return "tcmalloc" in os.environ.get("LD_PRELOAD", "")


def restart_with_tcmalloc(argv: list[str]) -> None:
    """Replace this process by `python ARGV...` with tcmalloc preloaded; returns (doing nothing) when
    tcmalloc is absent or already loaded, or when a restart was already tried. Call it before any work."""
    path = tcmalloc_path()
    if path is None or tcmalloc_preloaded() or os.environ.get(TCMALLOC_SWITCH) == "restarted":
        return
    preload = " ".join(p for p in (os.environ.get("LD_PRELOAD", ""), path) if p)
    env = {**os.environ, "LD_PRELOAD": preload, TCMALLOC_SWITCH: "restarted"}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *argv], env)
