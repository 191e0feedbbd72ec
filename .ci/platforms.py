"""Does `pip install -e ".[dev]"` / `".[dev,backends]"` resolve to wheels on the laptops learners have?

Asks PyPI alone (no local wheel folders, indexes or constraints from this machine's pip configuration),
binary only, per platform and Python version, without installing or downloading wheels: `pip install
--dry-run --report` reads each wheel's metadata (PEP 658) rather than the wheel. pip's --platform changes
only the wheel tags, not the environment markers, which it would evaluate for this machine (so torch
would ask for Linux's CUDA packages on Windows); each pip run here therefore evaluates markers for the
target platform (PEP 508 environment below). Usage:

    python .ci/platforms.py                      # the table: platform x Python -> ok / the blocking package
    python .ci/platforms.py --python 3.12 --platform win-amd64 --extras dev,backends -v

Exit status 1 when a promised platform (PROMISED) does not resolve for a Python that pyproject's
requires-python admits; pip refusing a Python outside it up front is what should happen.
"""
import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INDEX = "https://pypi.org/simple"


def _manylinux(arch: str, newest_glibc: int = 35) -> list[str]:
    """manylinux tags a current distribution accepts (glibc 2.35: Ubuntu 22.04), newest first; pip does
    not expand a manylinux_2_X tag to older ones by itself."""
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(newest_glibc, 16, -1)] + [f"manylinux2014_{arch}"]
    if arch == "x86_64":
        tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
    return tags


# name -> (wheel platform tags, PEP 508 marker environment less the Python version); the first four are the
# laptops README promises, macOS x86_64 (Intel Macs) is shown for information.
PLATFORMS = {
    "linux-x86_64": (_manylinux("x86_64"), {"sys_platform": "linux", "platform_system": "Linux",
                                            "platform_machine": "x86_64", "os_name": "posix"}),
    "linux-aarch64": (_manylinux("aarch64"), {"sys_platform": "linux", "platform_system": "Linux",
                                              "platform_machine": "aarch64", "os_name": "posix"}),
    # pip expands a macOS tag to every older macOS release of that architecture (11.0 for arm64).
    "macos-arm64": (["macosx_14_0_arm64"], {"sys_platform": "darwin", "platform_system": "Darwin",
                                            "platform_machine": "arm64", "os_name": "posix"}),
    "win-amd64": (["win_amd64"], {"sys_platform": "win32", "platform_system": "Windows",
                                  "platform_machine": "AMD64", "os_name": "nt"}),
    "macos-x86_64": (["macosx_14_0_x86_64"], {"sys_platform": "darwin", "platform_system": "Darwin",
                                              "platform_machine": "x86_64", "os_name": "posix"}),
}
PROMISED = ("linux-x86_64", "linux-aarch64", "macos-arm64", "win-amd64")
PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]
EXTRAS = ["dev", "dev,backends"]


def marker_environment(platform: str, python: str) -> dict[str, str]:
    env = dict(PLATFORMS[platform][1])
    env.update(python_version=python, python_full_version=f"{python}.0", implementation_name="cpython",
               implementation_version=f"{python}.0", platform_python_implementation="CPython",
               platform_release="", platform_version="")
    return env


def project_requirements(extras: str) -> tuple[list[str], str]:
    """pyproject's dependencies plus the named extras (markers kept), and its requires-python."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in filter(None, extras.split(",")):
        reqs += project["optional-dependencies"][extra]
    return reqs, project.get("requires-python", "")


def applicable(reqs: list[str], env: dict[str, str]) -> list[str]:
    """The requirements whose markers hold on the target, markers dropped (what pip is asked for)."""
    from pip._vendor.packaging.requirements import Requirement

    out = []
    for line in reqs:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(str(req))
    return out


def python_admitted(requires_python: str, python: str) -> bool:
    from pip._vendor.packaging.specifiers import SpecifierSet

    return SpecifierSet(requires_python).contains(f"{python}.0")


def pip_command(platform: str, python: str, reqs: list[str], report: Path, target: Path) -> list[str]:
    tags, _ = PLATFORMS[platform]
    abi = "cp" + python.replace(".", "")
    cmd = [sys.executable, __file__, "--pip-worker", json.dumps(marker_environment(platform, python)), "--",
           "install", "--dry-run", "--ignore-installed", "--report", str(report), "--quiet",
           # pip < 24 takes --platform only with --target; with --dry-run nothing is written there.
           "--target", str(target),
           "--only-binary=:all:", "--implementation", "cp", "--python-version", python, "--abi", abi,
           "--abi", "abi3", "--abi", "none", "--index-url", INDEX]
    for tag in tags:
        cmd += ["--platform", tag]
    return cmd + reqs


def clean_pip_env() -> dict[str, str]:
    """This machine's pip settings point at local wheel folders and a torch cap; a learner has neither."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def blocking(stderr: str) -> str:
    """The package pip found no wheel for, or the conflict, from pip's error text."""
    found = re.search(r"satisfies the requirement (\S+?)(?:[<>=!~;\s]|$)", stderr)
    if found:
        return f"no wheel: {found.group(1)}"
    conflict = re.findall(r"The conflict is caused by:\n((?:\s+.+\n)+)", stderr)
    if conflict:
        return "conflict: " + "; ".join(line.strip() for line in conflict[0].splitlines()[:3])
    tail = [line for line in stderr.splitlines() if line.startswith("ERROR")]
    return (tail[-1] if tail else stderr.strip().splitlines()[-1] if stderr.strip() else "pip failed")[:120]


def check(platform: str, python: str, extras: str, verbose: bool) -> tuple[str, dict]:
    """One cell: 'ok' (or 'ok (CUDA torch)'), 'refused (requires-python ...)' (pip refuses up front, as it
    should) or what blocks; and the wheel resolved for each package."""
    reqs, requires_python = project_requirements(extras)
    if not python_admitted(requires_python, python):
        return f"refused (requires-python {requires_python})", {}
    wanted = applicable(reqs, marker_environment(platform, python))
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "report.json")
        cmd = pip_command(platform, python, wanted, report, Path(tmp, "target"))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=clean_pip_env(), timeout=900)
        if verbose:
            print(f"## {platform} {python} [{extras}]: {' '.join(wanted)}\n{proc.stderr}", file=sys.stderr)
        if proc.returncode != 0:
            return blocking(proc.stderr), {}
        installed = json.loads(report.read_text())["install"]
    # the wheel chosen, so a cell shows e.g. a pure-Python wheel standing in for a missing binary one
    versions = {i["metadata"]["name"].lower(): i["download_info"]["url"].rsplit("/", 1)[-1] for i in installed}
    # PyPI's Linux torch is a CUDA build: it resolves, but with several GB of nvidia-* packages.
    cuda = [name for name in versions if name.startswith(("nvidia-", "nvidia_", "cuda-", "cuda_"))]
    return ("ok (CUDA torch)" if cuda else "ok"), versions


def pip_worker(environment: str, args: list[str]) -> int:
    """pip, in this process, with markers evaluated for the target platform instead of this machine."""
    from pip._vendor.packaging import markers

    target = json.loads(environment)
    markers.default_environment = lambda: dict(target)
    from pip._internal.cli.main import main

    return main(args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", nargs="+", choices=list(PLATFORMS), default=list(PLATFORMS))
    parser.add_argument("--python", nargs="+", default=PYTHONS)
    parser.add_argument("--extras", nargs="+", default=EXTRAS, help="extras sets, e.g. dev dev,backends")
    parser.add_argument("--jobs", type=int, default=4, help="pip runs at once (network bound)")
    parser.add_argument("--versions", action="store_true", help="also list the key packages each cell resolves to")
    parser.add_argument("-v", "--verbose", action="store_true", help="print pip's output for every cell")
    args = parser.parse_args(argv)

    cells = [(p, py, ex) for ex in args.extras for p in args.platform for py in args.python]
    results = {}
    try:
        from tqdm import tqdm
    except ImportError:  # the table still prints without a progress bar
        def tqdm(iterable, **_):
            return iterable
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(check, *cell, args.verbose): cell for cell in cells}
        for future in tqdm(concurrent.futures.as_completed(futures), total=len(futures), desc="pip resolves",
                           file=sys.stderr):
            results[futures[future]] = future.result()

    failed = False
    key = ("tensorflow", "tensorflow-cpu", "ai-edge-litert", "jax", "jaxlib", "torch", "pycocotools", "numpy")
    for extras in args.extras:
        print(f"\n`pip install -e \".[{extras}]\"` (PyPI, wheels only)\n")
        print("| platform | " + " | ".join(args.python) + " |")
        print("|---|" + "---|" * len(args.python))
        for platform in args.platform:
            row = [results[(platform, py, extras)][0] for py in args.python]
            failed |= platform in PROMISED and any(not cell.startswith(("ok", "refused")) for cell in row)
            print(f"| {platform} | " + " | ".join(row) + " |")
        if any(results[(p, py, extras)][0] == "ok (CUDA torch)" for p in args.platform for py in args.python):
            print("\nok (CUDA torch): resolves, but PyPI's torch there pulls CUDA (nvidia-* packages, several GB);"
                  " PyTorch's CPU index has the CPU build of the same version.")
        if args.versions:
            for platform in args.platform:
                for py in args.python:
                    versions = results[(platform, py, extras)][1]
                    picked = ", ".join(versions[name] for name in key if name in versions)
                    if picked:
                        print(f"- {platform} {py}: {picked}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--pip-worker":
        sys.exit(pip_worker(sys.argv[2], sys.argv[4:]))
    sys.exit(main())
