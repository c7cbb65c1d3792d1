"""The package with its engine compiled (mypyc), unpacked where a process can import it.

``SLA_BRIDGE_COMPILE=1 pip wheel .`` builds a platform wheel whose hot modules
(``[tool.sla-bridge] compiled`` in pyproject.toml) are C extensions. The benchmark
and the tests need that build beside the pure source tree, never in it (a
compiled module next to its source shadows every later edit of it). So the wheel
is built with the current virtualenv's mypy and setuptools (no download) and
unpacked into ``build/compiled-core/<digest>``, the digest covering every source
file of the package, the Python and the mypy: the same sources are compiled once.

    .venv/bin/python benchmarks/compiled_core.py      # builds if needed, prints the directory

A process imports the compiled package with that directory first on its path
(``PYTHONPATH=<dir>``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "compiled-core"


class CannotCompile(RuntimeError):
    """This machine lacks what compiling needs (a C compiler, Python's headers, mypy)."""


def compiled_modules() -> list[str]:
    """The dotted names of the modules the wheel compiles."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        paths = tomllib.load(f)["tool"]["sla-bridge"]["compiled"]
    return [str(Path(p).relative_to("src").with_suffix("")).replace("/", ".") for p in paths]


def missing() -> str | None:
    """Why this machine cannot compile the engine, or None."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler!r} is not on PATH)"
    header = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not header.exists():
        return f"no Python headers ({header} is missing; Debian: apt install python3-dev)"
    try:
        metadata.version("mypy")
    except metadata.PackageNotFoundError:
        return "mypy is not installed in this environment (pip install -e '.[test]')"
    return None


def _digest() -> str:
    h = hashlib.sha256()
    h.update(sys.version.encode())
    h.update(metadata.version("mypy").encode())
    for name in ("pyproject.toml", "setup.py", "packaging/build_backend.py"):
        h.update((ROOT / name).read_bytes())
    for path in sorted((ROOT / "src" / "sla_bridge").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def build() -> Path:
    """The directory holding the compiled package (built on first use); CannotCompile if it cannot be."""
    target = CACHE / _digest()
    if (target / "COMPLETE").exists():
        return target
    why = missing()
    if why is not None:
        raise CannotCompile(why)
    with tempfile.TemporaryDirectory(prefix="sla-bridge-wheel-") as out:
        run = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--quiet", "-w", out,
             str(ROOT)],
            env={**os.environ, "SLA_BRIDGE_COMPILE": "1"}, capture_output=True, text=True, check=False)
        wheels = list(Path(out).glob("sla_bridge-*.whl"))
        if run.returncode != 0 or len(wheels) != 1:
            raise CannotCompile(f"the compiled wheel did not build (exit {run.returncode}):\n"
                                f"{run.stdout[-4000:]}{run.stderr[-4000:]}")
        # Only this build is kept: each edit of the sources makes a new one.
        if CACHE.exists():
            shutil.rmtree(CACHE)
        partial = target.with_name(target.name + ".partial")
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(partial)
        (partial / "COMPLETE").write_text(wheels[0].name + "\n")
        partial.rename(target)
    return target


if __name__ == "__main__":
    try:
        print(build())
    except CannotCompile as e:
        print(f"compiled_core: cannot compile the engine here: {e}", file=sys.stderr)
        sys.exit(1)
