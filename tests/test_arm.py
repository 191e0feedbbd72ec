"""The ARM check (`python -m kerasgp arm-check`): an int8 model run by LiteRT's aarch64 build under QEMU as a
Pi 4 (Cortex-A72) and a Pi 5 (Cortex-A76), compared with this machine. The emulated environment is built
(about 30 s, from Debian's mirror and PyPI) where Debian's qemu-user-static and debootstrap are installed;
elsewhere the end-to-end test is skipped with the reason."""
from __future__ import annotations

import platform
from pathlib import Path

import pytest

from kerasgp.deploy import arm, replay

MODEL = Path(__file__).resolve().parents[1] / "results/models/tricks-larger_input_int8.tflite"


@pytest.mark.backend_free
def test_the_boards_cpuinfo_names_their_instructions():
    pi4, pi5 = arm.CPUS["pi4"].cpuinfo(), arm.CPUS["pi5"].cpuinfo()
    assert pi4.count("processor\t:") == pi5.count("processor\t:") == 4
    assert "CPU part\t: 0xd08" in pi4 and "CPU part\t: 0xd0b" in pi5  # Cortex-A72, Cortex-A76
    assert "asimddp" not in pi4 and "asimddp" in pi5
    assert arm.CPUS["pi4"].qemu == "cortex-a72" and arm.CPUS["pi5"].qemu == "cortex-a76"


@pytest.mark.backend_free
def test_kernels_follow_the_cpu_features():
    assert replay.kernels(["asimd"]) == "NEON (no dot-product)"
    assert replay.kernels(["asimd", "asimddp"]) == "NEON dot-product (SDOT)"
    assert replay.kernels(["asimd", "asimddp", "i8mm"]) == "NEON i8mm"
    if platform.machine() == "x86_64":
        assert replay.cpu_features() == [] and replay.kernels([]).startswith("x86")


@pytest.mark.backend_free
def test_unknown_cpu_models_and_missing_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="pi4"):
        arm.run([MODEL], cpus=("pi3",), out=None)
    with pytest.raises(FileNotFoundError, match="int8 .tflite"):
        arm.run([tmp_path / "absent.tflite"], out=None)


@pytest.fixture(scope="module")
def arm_env(tmp_path_factory):
    missing = arm.missing_tools()
    if missing:
        pytest.skip(f"the ARM check needs Debian's {' and '.join(missing)} (apt-get install {' '.join(missing)})")
    try:
        return arm.environment(tmp_path_factory.mktemp("arm64"), log=lambda *_: None)
    except arm.ArmEnvironmentError as error:
        pytest.skip(f"the emulated arm64 environment cannot be built here: {error}")


@pytest.mark.tflite
@pytest.mark.slow
def test_int8_outputs_on_emulated_pi4_and_pi5_match_x86_and_the_check_catches_a_wrong_cpu(arm_env, lspet_val):
    import dataclasses

    from kerasgp.data import build_cache
    from kerasgp.pose.estimator import TFLitePoseModel

    people = dataclasses.replace(lspet_val, records=lspet_val.records[:12], split="val-first12")
    cache = build_cache(people, TFLitePoseModel(MODEL).input_size, progress=False)
    rows = {row["cpu_model"].split()[0]: row for row in arm.compare(MODEL, cache, ("pi4", "pi5", "qemu-max"), arm_env)}
    for cpu in ("pi4", "pi5"):
        row = rows[cpu]
        print(cpu, row["kernels"], row["max_diff_units"], row["pckh05_arm"], row["pckh05_x86"])
        assert row["people"] == 12 and row["xnnpack"] is True
        assert row["bench"].startswith("ran (aarch64")  # README's board command, under the ARM Python
        assert row["max_diff_units"] == 0 and row["pckh05_diff"] == 0
    assert rows["pi4"]["kernels"] == "NEON (no dot-product)" and rows["pi5"]["kernels"] == "NEON dot-product (SDOT)"
    # the bench names the board, as on a real Pi (its /proc/cpuinfo has a Model line and no model name)
    result = arm_env.run("pi5", ["-c", "from kerasgp.machine import cpu_model; print(cpu_model())"])
    assert result.stdout.strip() == "Raspberry Pi 5 Model B"
    # QEMU's max CPU (SME emulated) gives LiteRT wrong int8 outputs: the comparison must show it.
    assert rows["qemu-max"]["differing_values"] > 0 and rows["qemu-max"]["max_diff_units"] > 1


@pytest.mark.backend_free
def test_a_missing_debian_package_is_named_with_its_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(arm, "_tool", lambda command: None if command == "qemu-aarch64-static" else "/usr/bin/true")
    assert arm.missing_tools() == ["qemu-user-static"]
    with pytest.raises(arm.ArmEnvironmentError, match="apt-get install qemu-user-static"):
        arm.environment(tmp_path / "env")
    assert not (tmp_path / "env").exists()  # nothing half-built


@pytest.mark.backend_free
def test_an_unbuilt_environment_is_not_built_when_told_not_to(monkeypatch, tmp_path):
    monkeypatch.setattr(arm, "_tool", lambda command: "/usr/bin/true")
    with pytest.raises(arm.ArmEnvironmentError, match="arm-check --setup"):
        arm.environment(tmp_path / "env", build=False)
