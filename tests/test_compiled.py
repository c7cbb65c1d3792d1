"""The engine compiled with mypyc gives the pure engine's answers, and passes the core's tests.

``SLA_BRIDGE_COMPILE=1 pip wheel .`` compiles the modules that pyproject.toml lists
(``[tool.sla-bridge] compiled``). The build is unpacked beside the source tree
(``benchmarks/compiled_core.py``, cached by the sources' digest) and imported by child
processes; this process keeps the pure engine. Without a C compiler, Python's
headers or mypy the tests skip, saying what is missing, except in CI, where they fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from compiled_core import CannotCompile, build, compiled_modules  # noqa: E402
from sla_bridge import __version__  # noqa: E402

COMPILED_DIR_VARIABLE = "SLA_BRIDGE_BENCH_COMPILED_DIR"  # benchmarks/bench_engine.py reads it
# The tests of the pure core, run again on the compiled modules, and of its two main users:
# the sync (through the memory tracker) and the compliance report's recomputation.
CORE_TESTS = sorted(str(p.relative_to(ROOT)) for pattern in ("test_engine*.py", "test_calendar*.py", "test_sync.py",
                                                             "test_compliance.py", "test_compliance_properties.py")
                    for p in (ROOT / "tests").glob(pattern))


@pytest.fixture(scope="module")
def compiled() -> Path:
    try:
        return build()
    except CannotCompile as e:
        if os.environ.get("CI"):
            pytest.fail(f"the compiled engine must build in CI: {e}")
        pytest.skip(f"the compiled engine cannot be built here: {e}")


def _env(compiled: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", COMPILED_DIR_VARIABLE)}
    env["PYTHONHASHSEED"] = "0"  # the labels' frozensets print in the same order in both processes
    if compiled is not None:
        env["PYTHONPATH"] = str(compiled)
        env[COMPILED_DIR_VARIABLE] = str(compiled)
    return env


def test_the_source_tree_holds_no_compiled_module() -> None:
    # An extension module beside its source is imported instead of it: every later
    # edit of the source would be ignored, and the pure tests would test the build.
    found = [str(p.relative_to(ROOT)) for p in (ROOT / "src").rglob("*") if p.suffix in (".so", ".pyd")]
    assert not found, f"compiled modules in the source tree (remove them; build wheels instead): {found}"


def test_the_listed_modules_are_compiled_and_the_rest_is_not(compiled: Path) -> None:
    listed = compiled_modules()
    assert "sla_bridge.engine.evaluate" in listed and "sla_bridge.calendar.ruler" in listed
    probe = ("import importlib, sys\n"
             "for name in sys.argv[1:]:\n"
             "    print(name, importlib.import_module(name).__file__)\n")
    others = ["sla_bridge", "sla_bridge.engine.results", "sla_bridge.calendar.business", "sla_bridge.model"]
    out = subprocess.run([sys.executable, "-c", probe, *listed, *others], env=_env(compiled), cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    files = dict(line.split(" ", 1) for line in out.splitlines())
    for name in listed:
        assert files[name].startswith(str(compiled)) and files[name].endswith(".so"), (name, files[name])
    for name in others:
        assert files[name].startswith(str(compiled)) and files[name].endswith(".py"), (name, files[name])


def test_the_version_says_how_the_engine_runs(compiled: Path) -> None:
    for where, expected in ((None, "(engine: pure Python)"), (compiled, "(engine: compiled)")):
        out = subprocess.run([sys.executable, "-m", "sla_bridge.cli", "--version"], env=_env(where), cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == f"sla-bridge, version {__version__} {expected}"


def test_the_compiled_engine_gives_the_pure_engines_answers(compiled: Path) -> None:
    answers: dict[str, list[str]] = {}
    for name, where in (("pure", None), ("compiled", compiled)):
        run = subprocess.run([sys.executable, "tests/engine_answers.py", "1500", "20261130"], env=_env(where),
                             cwd=ROOT, capture_output=True, text=True, check=True)
        assert ("clocks.py" in run.stderr) == (where is None), run.stderr
        answers[name] = run.stdout.splitlines()
    pure, built = answers["pure"], answers["compiled"]
    assert len(pure) > 20_000
    differing = [(a, b) for a, b in zip(pure, built) if a != b]
    assert len(pure) == len(built) and not differing, f"{len(differing)} answers differ, first: {differing[:3]}"


def test_a_ticket_built_with_sets_and_lists_evaluates_on_both(compiled: Path) -> None:
    # Adapter plugins are plain Python: a set of labels, a list of events. The compiled engine
    # checks its inputs' types, so the ticket gives it the frozenset and the tuple it is typed for.
    script = ("from datetime import datetime, timezone\n"
              "from sla_bridge.demo import builtin_config\n"
              "from sla_bridge.engine import evaluate\n"
              "from sla_bridge.model import Comment, Role, Ticket\n"
              "cfg = builtin_config()\n"
              "at = datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc)\n"
              "t = Ticket('x', '1', 't', None, at, 'new', 'majeure', labels={'contournement'},\n"
              "           events=[Comment(at, 'sam', Role.AGENT, True, 'ok')], fields=[('domaine', 'prod')])\n"
              "print(sorted(evaluate(t, cfg.policy, cfg.calendar, at.replace(hour=12)).desired.labels))\n")
    outs = [subprocess.run([sys.executable, "-c", script], env=_env(where), cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout for where in (None, compiled)]
    assert outs[0] == outs[1] and "sla-" in outs[0]


def test_the_cores_tests_pass_on_the_compiled_modules(compiled: Path) -> None:
    # pytest in a process that checks first that it imports the compiled engine
    script = ("import sys, pytest, sla_bridge.engine.clocks as c\n"
              "assert c.__file__.endswith('.so'), c.__file__\n"
              "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-x', *sys.argv[1:]]))\n")
    run = subprocess.run([sys.executable, "-c", script, *CORE_TESTS],
                         env=_env(compiled), cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1]
