"""pyproject.toml and environment.yml must install the same packages, and the packages must have wheels on
the platforms README names (the markers that pick them; .ci/platforms.py asks PyPI itself)."""
import importlib.util
import tomllib
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.backend_free

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_lists_exactly_pyprojects_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for extra in ("dev", "backends"):
        wanted |= set(project["optional-dependencies"][extra])
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in conda["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml should have one pip: section"
    listed = {p for p in pip_lists[0] if p != "-e ." and not p.startswith("--")}  # pip options: index URLs
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"
    assert "-e ." in pip_lists[0], "environment.yml must install kerasgp itself"


def test_torch_is_pinned_so_pip_does_not_pull_a_cuda_build():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["optional-dependencies"]["backends"]


def _platforms():
    """.ci/platforms.py, the per-platform install check, imported from its path (it is no package)."""
    spec = importlib.util.spec_from_file_location("platforms", ROOT / ".ci" / "platforms.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("platform", ["linux-x86_64", "linux-aarch64", "macos-arm64", "win-amd64", "macos-x86_64"])
def test_each_platform_gets_exactly_one_tensorflow_with_wheels_there(platform):
    # PyPI has tensorflow-cpu wheels for Linux x86_64 alone; everywhere else the `tensorflow` wheel is the one.
    platforms = _platforms()
    reqs, _ = platforms.project_requirements("dev,backends")
    wanted = platforms.applicable(reqs, platforms.marker_environment(platform, "3.12"))
    names = {w.split(">")[0].split("=")[0] for w in wanted}
    expected = "tensorflow-cpu" if platform == "linux-x86_64" else "tensorflow"
    assert names & {"tensorflow", "tensorflow-cpu"} == {expected}, wanted
    assert {"keras", "ai-edge-litert", "jax", "torch", "pytest"} <= names


def test_requires_python_matches_the_pythons_that_resolve():
    # The platform check found wheels for every dependency on 3.10-3.13 and none of TensorFlow's for 3.14.
    platforms = _platforms()
    _, requires_python = platforms.project_requirements("dev")
    pythons = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
    admitted = [v for v in pythons if platforms.python_admitted(requires_python, v)]
    assert admitted == ["3.10", "3.11", "3.12", "3.13"]


def test_platform_check_names_the_package_without_a_wheel():
    platforms = _platforms()
    stderr = ("ERROR: Could not find a version that satisfies the requirement tensorflow>=2.18 "
              "(from versions: none)\n"
              "ERROR: No matching distribution found for tensorflow>=2.18\n")
    assert platforms.blocking(stderr) == "no wheel: tensorflow"
    # pip's options for one cell: wheels only, the target's tags and ABI, PyPI alone
    cmd = platforms.pip_command("win-amd64", "3.11", ["torch==2.13.0"], Path("r.json"), Path("t"))
    assert "--only-binary=:all:" in cmd and cmd[cmd.index("--abi") + 1] == "cp311"
    assert cmd[cmd.index("--platform") + 1] == "win_amd64" and cmd[-1] == "torch==2.13.0"
    assert cmd[cmd.index("--index-url") + 1] == platforms.INDEX


def test_environment_yml_takes_torch_from_the_cpu_index():
    # Without it, conda's pip installs PyPI's Linux torch: a CUDA build with several GB of nvidia-* packages.
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_list = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict) and "pip" in d)
    options = [p for p in pip_list if p.startswith("--")]
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"], options
