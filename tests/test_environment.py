"""pyproject.toml and environment.yml must install the same packages."""
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
    listed = {p for p in pip_lists[0] if p != "-e ."}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"
    assert "-e ." in pip_lists[0], "environment.yml must install kerasgp itself"


def test_torch_is_pinned_so_pip_does_not_pull_a_cuda_build():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["optional-dependencies"]["backends"]
