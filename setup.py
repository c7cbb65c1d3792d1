"""The engine's hot modules compiled with mypyc when ``SLA_BRIDGE_COMPILE=1``.

Everything else about the package is in pyproject.toml. The modules to compile are
listed there (``[tool.sla-bridge] compiled``); they are the pure core's inner loop
(evaluate, the clocks, the waiting cycles, the business ruler), typed for
``mypy --strict``, and the compiled build gives the same answers as the pure one
(tests/test_compiled.py). Without the variable the wheel is pure Python.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
# The commands that build extensions. Metadata, an sdist and an editable install never
# do: an editable install's compiled modules would sit beside their sources and hide
# every later edit, and mypy is not even installed when pip only asks what to install.
BUILDING = {"bdist_wheel", "build", "build_ext"}


def _compiled_modules() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["tool"]["sla-bridge"]["compiled"])


def _ext_modules() -> list[object]:
    if os.environ.get("SLA_BRIDGE_COMPILE", "").strip().lower() not in {"1", "true", "yes"}:
        return []
    if not BUILDING & set(sys.argv[1:]):
        return []
    try:
        from mypyc.build import mypycify  # a build requirement only when compiling (packaging/build_backend.py)
    except ImportError:
        raise SystemExit("SLA_BRIDGE_COMPILE=1: mypyc is missing; install mypy==2.4.1 in the build"
                         " environment, or build with pip's isolation (the default), which fetches it") from None
    # Paths relative to the project: mypyc names the modules from the src layout.
    return list(mypycify(_compiled_modules(), opt_level="3", target_dir="build/mypyc"))


setup(ext_modules=_ext_modules())
