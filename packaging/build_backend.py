"""setuptools' build backend, asking for mypy too when the wheel is to be compiled.

``SLA_BRIDGE_COMPILE=1 pip wheel .`` builds a platform wheel in which the engine's
hot modules are compiled with mypyc (``setup.py``); mypy is then a build
requirement, fetched into pip's isolated build environment like setuptools.
Without the variable this is setuptools' backend, unchanged.
"""

from __future__ import annotations

import os
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (every hook, as setuptools defines it)

# The mypy that compiled and type-checked the modules in CI; its mypyc is the compiler.
MYPYC_REQUIREMENT = "mypy==2.4.1"


def compiling() -> bool:
    return os.environ.get("SLA_BRIDGE_COMPILE", "").strip().lower() in {"1", "true", "yes"}


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    required: list[str] = _setuptools.get_requires_for_build_wheel(config_settings)
    return required + [MYPYC_REQUIREMENT] if compiling() else required
