"""The package with its engine compiled (mypyc), unpacked where a process can import it.

``SLA_BRIDGE_COMPILE=1 pip wheel .`` builds a platform wheel whose hot modules
(``[tool.sla-bridge] compiled`` in pyproject.toml) are C extensions. The benchmark
and the tests need that build beside the pure source tree, never in it (a
compiled module next to its source shadows every later edit of it). So the wheel
is built from a fresh copy of the sources with the current virtualenv's mypy and
setuptools (no download) and unpacked into ``build/compiled-core/<digest>``, the
digest covering every source file of the package, the Python and the mypy: the same
sources are compiled once, and an edit makes a new build.

    .venv/bin/python benchmarks/compiled_core.py      # builds if needed, prints the directory

A process imports the compiled package with that directory first on its path
(``PYTHONPATH=<dir>``).
"""

from __future__ import annotations

import fcntl
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


# What a wheel is built from: copied into a fresh directory for each build, since an
# in-tree build reuses `build/lib*` (setuptools copies a file only when it is newer, and
# never removes one), and would pack an old or deleted module under a new digest.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "packaging/build_backend.py")
KEPT = 3  # builds kept: a benchmark and a test run may use different ones at once


def _files(root: Path) -> list[Path]:
    package = [p for p in sorted((root / "src" / "sla_bridge").rglob("*"))
               if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".so")]
    return [root / name for name in SOURCES] + package


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    h.update(sys.version.encode())
    h.update(metadata.version("mypy").encode())
    for path in _files(root):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def build() -> Path:
    """The directory holding the compiled package of the current sources (built on first use);
    CannotCompile if it cannot be."""
    why = missing()
    if why is not None:
        raise CannotCompile(why)
    target = CACHE / _digest(ROOT)
    if (target / "COMPLETE").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; the second finds it done
        if (target / "COMPLETE").exists():
            return target
        with tempfile.TemporaryDirectory(prefix="sla-bridge-wheel-") as work:
            tree = Path(work) / "tree"
            for path in _files(ROOT):
                copy = tree / path.relative_to(ROOT)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copy)
            target = CACHE / _digest(tree)  # what is built, even if a file changed meanwhile
            run = subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--quiet",
                 "-w", str(Path(work) / "dist"), str(tree)],
                env={**os.environ, "SLA_BRIDGE_COMPILE": "1"}, capture_output=True, text=True, check=False)
            wheels = list((Path(work) / "dist").glob("sla_bridge-*.whl"))
            if run.returncode != 0 or len(wheels) != 1:
                raise CannotCompile(f"the compiled wheel did not build (exit {run.returncode}):\n"
                                    f"{run.stdout[-4000:]}{run.stderr[-4000:]}")
            partial = CACHE / f".{target.name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            with zipfile.ZipFile(wheels[0]) as wheel:
                wheel.extractall(partial)
            (partial / "COMPLETE").write_text(wheels[0].name + "\n")
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
        builds = sorted((p for p in CACHE.iterdir() if p.is_dir() and not p.name.startswith(".")),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        for old in builds[KEPT:]:
            shutil.rmtree(old, ignore_errors=True)
    return target


if __name__ == "__main__":
    try:
        print(build())
    except CannotCompile as e:
        print(f"compiled_core: cannot compile the engine here: {e}", file=sys.stderr)
        sys.exit(1)
