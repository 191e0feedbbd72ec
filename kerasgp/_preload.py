"""Loaded first by pytest (pyproject's `addopts = -p kerasgp._preload`): restarts a `pytest` command once
with tcmalloc preloaded, before any test or notebook kernel starts, so the tests and the lessons' kernel
train without glibc's allocator tax (kerasgp.machine). `KERASGP_TCMALLOC=0` turns it off."""
import os
import sys

from kerasgp.machine import restart_with_tcmalloc

_program = sys.argv[0].replace(os.sep, "/") if sys.argv else ""
if _program.endswith(("/pytest", "/py.test", "pytest/__main__.py")):  # a pytest command, not pytest.main()
    restart_with_tcmalloc(["-m", "pytest", *sys.argv[1:]])
