"""The pure core stays pure: no I/O, tracker, store, HTTP or scheduler imports, no clock reads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "sla_bridge"
CORE = ["model.py", "identity.py", "calendar_batch.py", "policy.py", "markers.py", "templates.py",
        "actions.py", "text.py", "reconcile.py", "contracts.py",
        *sorted(str(p.relative_to(SRC)) for p in (SRC / "calendar").glob("*.py")),
        *sorted(str(p.relative_to(SRC)) for p in (SRC / "engine").glob("*.py")),
        "compliance/model.py", "compliance/tickets.py", "compliance/compute.py", "compliance/i18n.py",
        "compliance/json_form.py", "compliance/csv_form.py"]
FORBIDDEN_MODULES = {"requests", "jira", "sqlite3", "apscheduler", "pluggy", "socket", "http", "urllib",
                     "subprocess", "os", "time", "random", "pathlib", "rich", "click"}
FORBIDDEN_CALLS = {"now", "utcnow", "today"}  # `time` itself is a forbidden import


@pytest.mark.parametrize("name", CORE)
def test_core_module_is_pure(name: str) -> None:
    tree = ast.parse((SRC / name).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots = {(node.module or "").split(".")[0]} if node.level == 0 else set()
            if node.level and (node.module or "").split(".")[0] in {"adapters", "store", "service", "cli", "config"}:
                pytest.fail(f"{name} imports .{node.module}")
        else:
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in FORBIDDEN_CALLS:
                pytest.fail(f"{name}:{node.lineno} calls .{node.func.attr}()")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
                pytest.fail(f"{name}:{node.lineno} opens a file")
            continue
        assert not roots & FORBIDDEN_MODULES, f"{name}:{node.lineno} imports {roots & FORBIDDEN_MODULES}"
