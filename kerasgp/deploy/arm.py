"""Int8 models on ARM's own kernels, under emulation: `python -m kerasgp arm-check MODEL.tflite ...`.

An int8 model is a sequence of integer kernels, and the ones that run on a Raspberry Pi are not the ones
that ran here: XNNPACK and ruy pick their micro-kernels by the CPU's instructions, NEON on a Pi 4's
Cortex-A72, NEON with the SDOT dot-product instructions on a Pi 5's Cortex-A76, AVX2/VNNI on this x86
machine. Right on x86 is therefore not proof of right on ARM. This check runs the ARM build of the same
runtime, unchanged, in an arm64 Debian userland under QEMU's user-mode emulator, with QEMU told which
CPU to be (`QEMU_CPU`), on real LSPET val crops, and compares its raw outputs with this machine's.

The environment (built once, cached, about 400 MB; Debian's `qemu-user-static` and `debootstrap` needed, and
`fakeroot` when not run as root):
- an arm64 Debian bookworm userland with its Python 3.11: `debootstrap --foreign --variant=minbase`,
  then every downloaded package unpacked with `dpkg -x` (no chroot, no binfmt, no root needed to run);
- the aarch64 wheels of `ai-edge-litert` and `numpy` (the versions installed here), unpacked by pip;
- one prefix per CPU model, hard links of the userland, each with an ARM `/proc/cpuinfo`: QEMU 7.2
  passes the host's x86 `/proc/cpuinfo` through, and LiteRT's CPU detection crashes on it, so each prefix
  holds the file its board shows (QEMU's `-L` serves files from the prefix first).

What it cannot tell: latency. Emulated instructions cost nothing like real ones; the seconds per invoke
it records are the emulator's, never a Pi's.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import DataWarning, build_cache, load
from ..data.pipeline import PoseBatches
from ..pose.estimator import TFLitePoseModel, evaluate
from ..results import read_commit, write_csv
from .bench import make_interpreter
from .replay import replay
from .runtime import _dequantise, _quantise

SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
PYTHON = "3.11"  # bookworm's Python; the wheels are fetched for it
ENV_VARIABLE = "KERASGP_ARM_ENV"  # where the environment is kept (default ~/.cache/kerasgp/arm64-bookworm)
# Wheel platform tags pip may take for an aarch64 glibc 2.36 (bookworm) userland.
PLATFORMS = ("manylinux_2_27_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")


@dataclass(frozen=True)
class Cpu:
    """A board's CPU as QEMU emulates it, and the /proc/cpuinfo the board shows (4 cores)."""
    board: str
    qemu: str  # QEMU_CPU
    features: str  # cpuinfo's Features line (the kernel's names of the HWCAP bits)
    variant: str
    part: str
    revision: str
    hardware: str

    def cpuinfo(self) -> str:
        core = (f"BogoMIPS\t: 108.00\nFeatures\t: {self.features}\nCPU implementer\t: 0x41\n"
                f"CPU architecture: 8\nCPU variant\t: {self.variant}\nCPU part\t: {self.part}\n"
                f"CPU revision\t: {self.revision}\n\n")
        return "".join(f"processor\t: {i}\n{core}" for i in range(4)) + (
            f"Hardware\t: {self.hardware}\nModel\t\t: {self.board}\n")


# As the boards' Raspberry Pi OS (64-bit) prints them. QEMU's "max" CPU is no stand-in: it emulates SME,
# and LiteRT's outputs under it were wrong ("max,sme=off" was right).
CPUS = {
    "pi4": Cpu("Raspberry Pi 4 Model B", "cortex-a72", "fp asimd evtstrm crc32 cpuid", "0x0", "0xd08", "3",
               "BCM2835"),
    "pi5": Cpu("Raspberry Pi 5 Model B", "cortex-a76", "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp "
               "asimdhp cpuid asimdrdm lrcpc dcpop asimddp", "0x4", "0xd0b", "1", "BCM2712"),
}
# A negative control, never a board: QEMU's "max" CPU with its SME emulation, under which LiteRT's int8
# outputs come out wrong. The test runs the check as it to show the comparison does catch a difference.
CONTROLS = {"qemu-max": Cpu("QEMU max CPU (SME emulated): a negative control", "max",
                            CPUS["pi5"].features, "0x0", "0x000", "0", "QEMU")}
COLUMNS = ("model", "cpu_model", "board", "kernels", "xnnpack", "people", "outputs", "max_diff_units",
           "differing_values", "max_diff_px", "pckh05_arm", "pckh05_x86", "pckh05_diff", "pckh01_arm", "pckh01_x86",
           "bench", "runtime_arm", "runtime_x86", "kernels_x86", "qemu", "emulated_s_per_invoke", "commit", "date")


class ArmEnvironmentError(RuntimeError):
    """The emulated environment cannot be built or run here (a missing tool, no network, a failed step)."""


def default_folder() -> Path:
    if os.environ.get(ENV_VARIABLE):
        return Path(os.environ[ENV_VARIABLE])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "kerasgp" / f"arm64-{SUITE}"


def missing_tools() -> list[str]:
    """The Debian packages the check needs and this machine lacks (by their commands)."""
    needed = {"qemu-aarch64-static": "qemu-user-static", "debootstrap": "debootstrap", "dpkg": "dpkg"}
    if os.geteuid() != 0:  # debootstrap insists on root; fakeroot's pretend root is enough for --foreign
        needed["fakeroot"] = "fakeroot"
    return [package for command, package in needed.items() if _tool(command) is None]


def _tool(command: str) -> str | None:
    found = shutil.which(command)
    return found or next((str(p) for p in (Path("/usr/sbin", command), Path("/sbin", command)) if p.exists()), None)


def _versions() -> dict:
    """The wheels to fetch: the versions of this environment, so both sides run the same runtime."""
    wanted = {}
    for package in ("ai-edge-litert", "numpy"):
        try:
            wanted[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            raise ArmEnvironmentError(f"{package} is not installed here; the check compares against it "
                                      f"(pip install {package})") from None
    return wanted


@dataclass(frozen=True)
class ArmEnvironment:
    folder: Path
    versions: dict

    @property
    def site(self) -> Path:
        return self.folder / "site"

    def prefix(self, cpu: str) -> Path:
        return self.folder / f"root-{cpu}"

    def command(self, cpu: str, args) -> tuple[list, dict]:
        """(argv, environment) to run `python3.11 ARGS...` as the ARM board `cpu` ("pi4" or "pi5")."""
        prefix = self.prefix(cpu)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.folder), "LANG": "C.UTF-8",
               "QEMU_CPU": _cpu(cpu).qemu, "PYTHONPATH": os.pathsep.join([str(self.site), str(_package_root())]),
               "PYTHONDONTWRITEBYTECODE": "1", "KERASGP_TCMALLOC": "0"}  # the host's x86 tcmalloc must not load
        return [_qemu(), "-L", str(prefix), str(prefix / "usr/bin" / f"python{PYTHON}"), *args], env

    def run(self, cpu: str, args, timeout: float = 3600, cwd=None) -> subprocess.CompletedProcess:
        argv, env = self.command(cpu, args)
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)
        if result.returncode != 0:
            raise ArmEnvironmentError(f"emulated {cpu} ({_cpu(cpu).qemu}) `python {' '.join(map(str, args))}` "
                                      f"exited {result.returncode}:\n{result.stderr[-2000:]}")
        return result


def _cpu(name: str) -> Cpu:
    if name not in CPUS and name not in CONTROLS:
        raise ValueError(f"CPU models are {sorted(CPUS)} (and the control {sorted(CONTROLS)}); got {name!r}")
    return CPUS.get(name) or CONTROLS[name]


def _package_root() -> Path:
    return Path(__file__).resolve().parents[2]  # the folder holding `kerasgp/`: the package, not installed


def _qemu() -> str:
    return shutil.which("qemu-aarch64-static") or "qemu-aarch64-static"


def _step(argv, what: str, hint: str, timeout: float = 1800):
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ArmEnvironmentError(f"{what} failed ({error}); {hint}") from None
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-6:])
        raise ArmEnvironmentError(f"{what} failed (exit {result.returncode}); {hint}\n{tail}")
    return result


def environment(folder=None, build: bool = True, log=print) -> ArmEnvironment:
    """The emulated arm64 environment in `folder` (default: `default_folder()`), built when missing and
    `build`; idempotent: each finished stage is kept and a second call only checks it. Raises
    ArmEnvironmentError naming what is missing (a Debian package, the network for the mirror or PyPI)."""
    folder = Path(folder) if folder else default_folder()
    missing = missing_tools()
    if missing:
        raise ArmEnvironmentError(f"the ARM check needs Debian's {' and '.join(missing)}: "
                                  f"apt-get install {' '.join(missing)}")
    versions = _versions()
    ready = folder / "ready.json"
    env = ArmEnvironment(folder, versions)
    stamp = {"suite": SUITE, **versions, "cpus": sorted({**CPUS, **CONTROLS})}
    if ready.is_file() and json.loads(ready.read_text()) == stamp:
        return env
    if not build:
        raise ArmEnvironmentError(f"no emulated arm64 environment in {folder}: python -m kerasgp arm-check --setup")
    folder.mkdir(parents=True, exist_ok=True)
    rootfs = folder / "rootfs"
    if not (rootfs / "usr/bin" / f"python{PYTHON}").exists():
        shutil.rmtree(rootfs, ignore_errors=True)
        log(f"arm64 {SUITE} userland with Python {PYTHON} (debootstrap, about 110 packages) ...")
        as_root = [] if os.geteuid() == 0 else [_tool("fakeroot")]
        _step([*as_root, _tool("debootstrap"), "--arch=arm64", "--foreign", "--variant=minbase", "--include=python3", SUITE,
               str(rootfs), MIRROR], "debootstrap", f"it downloads from {MIRROR}; is the network up?")
        # --foreign only unpacks the essential packages; the rest (Python among them) wait as .deb files.
        for deb in sorted((rootfs / "var/cache/apt/archives").glob("*.deb")):
            _step(["dpkg", "-x", str(deb), str(rootfs)], f"dpkg -x {deb.name}", "a damaged download? remove "
                  f"{rootfs} and run again")
        if not (rootfs / "usr/bin" / f"python{PYTHON}").exists():
            raise ArmEnvironmentError(f"the userland in {rootfs} has no python{PYTHON} after unpacking")
    site = env.site
    shutil.rmtree(site, ignore_errors=True)
    log(f"aarch64 wheels: {', '.join(f'{k}=={v}' for k, v in versions.items())} ...")
    _step([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--only-binary=:all:",
           *[f"--platform={p}" for p in PLATFORMS], f"--python-version={PYTHON}", "--implementation=cp",
           "--target", str(site), *[f"{k}=={v}" for k, v in versions.items()]],
          "pip install of the aarch64 wheels", "they come from PyPI; is it reachable?")
    for cpu, spec in {**CPUS, **CONTROLS}.items():
        prefix = env.prefix(cpu)
        if not prefix.exists():
            shutil.copytree(rootfs, prefix, symlinks=True, copy_function=os.link)  # hard links: no space
        (prefix / "proc").mkdir(exist_ok=True)
        (prefix / "proc/cpuinfo").write_text(spec.cpuinfo())
        env.run(cpu, ["-c", "import numpy, ai_edge_litert.interpreter"], timeout=600)  # fails here, not later
    ready.write_text(json.dumps(stamp))
    return env


def qemu_version() -> str:
    try:
        first = subprocess.run([_qemu(), "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return "unknown"
    return first.splitlines()[0].replace("qemu-aarch64 version ", "qemu ") if first else "unknown"


class _Replayed:
    """Stored outputs behind `predict_on_batch`, handed out in order: `evaluate` scores them like a model."""

    def __init__(self, outputs: dict):
        self.outputs, self.position = outputs, 0

    def predict_on_batch(self, images):
        start, self.position = self.position, self.position + len(images)
        return {name: value[start:self.position] for name, value in self.outputs.items()}


def compare(model, cache, cpus=("pi4", "pi5"), env: ArmEnvironment | None = None, bench: bool = True,
            xnnpack: bool = True) -> list:
    """Rows (COLUMNS without commit and date) of one int8 `.tflite` pose model: run here and as each ARM
    CPU on every person of `cache` (a crop cache at the model's input size), outputs compared. xnnpack=False
    runs both sides on the runtime's built-in kernels instead of XNNPACK."""
    path = Path(model)
    env = env or environment()
    details = make_interpreter(path.read_bytes(), xnnpack=False).get_signature_runner()
    (detail,) = details.get_input_details().values()
    output_details = details.get_output_details()
    if TFLitePoseModel(path).input_size != tuple(cache.input_size):
        raise ValueError(f"{path.name} takes {TFLitePoseModel(path).input_size} crops; the cache holds "
                         f"{tuple(cache.input_size)}")
    batches = PoseBatches(cache, batch_size=64, targets="coords")  # the crops exactly as `evaluate` feeds them
    inputs = np.concatenate([_quantise(batches.batch(i)["images"], detail) for i in range(len(batches))])
    here, here_info = replay(path, inputs, xnnpack=xnnpack)
    dequantised = {name: _dequantise(value, output_details[name]) for name, value in here.items()}
    here_score = evaluate(_Replayed(dequantised), cache)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kerasgp-arm-") as folder:
        np.save(Path(folder) / "inputs.npy", inputs)
        # One emulator per CPU model, side by side (each is a single-threaded process).
        with ThreadPoolExecutor(max_workers=max(1, min(len(cpus), os.cpu_count() or 1))) as pool:
            flags = [] if xnnpack else ["--no-xnnpack"]
            list(pool.map(lambda cpu: env.run(cpu, ["-m", "kerasgp.deploy.replay", str(path.resolve()),
                                                    str(Path(folder) / "inputs.npy"), str(Path(folder) / f"{cpu}.npz"),
                                                    *flags]), cpus))
        for cpu in cpus:
            with np.load(Path(folder) / f"{cpu}.npz") as stored:
                info = json.loads(str(stored["info"]))
                there = {key.removeprefix("output:"): stored[key] for key in stored.files if key != "info"}
            units = max(int(np.abs(there[k].astype(np.int64) - here[k].astype(np.int64)).max()) for k in here)
            differing = sum(int((there[k] != here[k]).sum()) for k in here)
            arm = {name: _dequantise(value, output_details[name]) for name, value in there.items()}
            pixels = float(np.abs(arm["keypoints"] - dequantised["keypoints"]).max()) if "keypoints" in arm else ""
            arm_score = evaluate(_Replayed(arm), cache)
            ran = ""
            if bench and xnnpack:  # README's board command: the bench module under the ARM Python, numpy and LiteRT only
                result = env.run(cpu, ["-m", "kerasgp", "bench", str(path.resolve()), "--runs", "2", "--warmup", "1",
                                       "--no-csv", "--json"])
                row = json.loads(result.stdout.strip().splitlines()[-1])
                ran = f"ran ({row['arch']}, XNNPACK {'yes' if row['xnnpack'] else 'no'})"
            rows.append({
                "model": path.name, "cpu_model": f"{cpu} ({_cpu(cpu).qemu})", "board": _cpu(cpu).board,
                "kernels": info["kernels"], "xnnpack": info["xnnpack"], "people": here_score["people"],
                "outputs": ";".join(f"{k} {here[k].dtype.name}" for k in sorted(here)), "max_diff_units": units,
                "differing_values": differing, "max_diff_px": round(pixels, 3) if pixels != "" else "",
                "pckh05_arm": round(arm_score["pckh@0.5"], 2), "pckh05_x86": round(here_score["pckh@0.5"], 2),
                "pckh05_diff": round(arm_score["pckh@0.5"] - here_score["pckh@0.5"], 2),
                "pckh01_arm": round(arm_score["pckh@0.1"], 2), "pckh01_x86": round(here_score["pckh@0.1"], 2),
                "bench": ran, "runtime_arm": info["runtime"], "runtime_x86": here_info["runtime"],
                "kernels_x86": here_info["kernels"], "qemu": qemu_version(),
                "emulated_s_per_invoke": round(info["seconds_per_invoke"], 4)})
    return rows


def run(models, cpus=("pi4", "pi5"), limit: int | None = None, out="results/arm_check.csv", folder=None,
        append: bool = True, progress: bool = True, log=print, xnnpack: bool = True):
    """`python -m kerasgp arm-check`: each int8 `.tflite` pose model against each ARM CPU on LSPET val
    (all 2,000 people, or the first `limit`). Rows go to `out` (a model's earlier rows for these CPUs and
    kernels are replaced when append, others kept); returns them as a pandas DataFrame. xnnpack=False: both
    sides on the runtime's built-in kernels (not what a board runs by default; a comparison of kernels)."""
    import warnings

    import pandas as pd
    from tqdm.auto import tqdm

    if not cpus:
        raise ValueError(f"name at least one CPU model of {sorted(CPUS)}")
    for cpu in cpus:
        _cpu(cpu)
    paths = [Path(m) for m in models]
    bad = [str(p) for p in paths if p.suffix != ".tflite" or not p.is_file()]
    if bad or not paths:
        raise FileNotFoundError(f"arm-check takes int8 .tflite files; not found or not .tflite: {bad or 'none given'}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 person; got {limit}")
    env = environment(folder, log=log)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        people = load("lspet", split="val")
    if limit is not None:
        people = dataclasses.replace(people, records=people.records[:limit], split=f"val-first{limit}")
    commit, date = read_commit(), __import__("datetime").datetime.now().isoformat(timespec="seconds")
    rows, caches = [], {}
    for path in tqdm(paths, desc="arm-check", unit="model", disable=not progress):
        size = TFLitePoseModel(path).input_size
        if size not in caches:
            caches[size] = build_cache(people, size, progress=False)
        rows += [{**row, "commit": commit, "date": date}
                 for row in compare(path, caches[size], cpus, env, xnnpack=xnnpack)]
    if out:
        key = lambda r: (r["model"], r["cpu_model"], str(r["xnnpack"]))  # noqa: E731
        done = {key(r) for r in rows}
        kept = []
        if append and Path(out).is_file():
            old = pd.read_csv(out, keep_default_na=False, dtype=str)
            kept = [r for r in old.to_dict("records") if key(r) not in done]
        write_csv(kept + rows, out, COLUMNS)
    return pd.DataFrame(rows, columns=list(COLUMNS))
