"""Plugins: adapters registered from outside the package, duplicates refused, hooks documented."""

from __future__ import annotations

import inspect
import sys
import textwrap
from pathlib import Path

import pytest

from sla_bridge import hookspecs
from sla_bridge.errors import ConfigError
from sla_bridge.hookspecs import hookimpl
from sla_bridge.plugins import build_plugin_manager, build_registry

README = Path(__file__).resolve().parent.parent / "README.md"


def test_builtin_adapters_are_ordinary_plugins() -> None:
    registry = build_registry(build_plugin_manager(load_entry_points=False))
    assert {"memory", "redmine", "jira", "zammad"} <= set(registry.names())


def test_a_third_party_adapter_registers_through_an_entry_point(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "acme_tracker.py").write_text(textwrap.dedent("""
        from sla_bridge.hookspecs import hookimpl

        class AcmeAdapter:
            def __init__(self, name, section, config):
                self.name = name

        @hookimpl
        def sla_bridge_register_adapters(registry):
            registry.add("acme", AcmeAdapter)
    """), encoding="utf-8")
    dist = tmp_path / "acme_tracker-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-tracker\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[sla_bridge]\nacme = acme_tracker\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = build_registry(build_plugin_manager())
    assert "acme" in registry.names()
    adapter = registry.get("acme")("tickets", None, None)  # type: ignore[arg-type]
    assert type(adapter).__module__ == "acme_tracker"
    sys.modules.pop("acme_tracker", None)


def test_a_duplicate_adapter_name_fails_at_start_up() -> None:
    class Impostor:
        @hookimpl
        def sla_bridge_register_adapters(self, registry):  # type: ignore[no-untyped-def]
            registry.add("redmine", object)

    pm = build_plugin_manager([Impostor()], load_entry_points=False)
    with pytest.raises(ConfigError, match="adapter type 'redmine' is registered twice"):
        build_registry(pm)


def test_an_unknown_adapter_names_the_known_ones() -> None:
    registry = build_registry(build_plugin_manager(load_entry_points=False))
    with pytest.raises(ConfigError, match="unknown adapter 'youtrack'; known adapters: jira, memory, redmine, zammad"):
        registry.get("youtrack")


def _hookspecs() -> list[str]:
    return [name for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("sla_bridge_")]


@pytest.mark.parametrize("hook", _hookspecs())
def test_every_hook_is_documented(hook: str) -> None:
    assert f"`{hook}" in README.read_text(encoding="utf-8"), f"{hook} is not documented in README.md"
    assert inspect.getdoc(getattr(hookspecs, hook)), f"{hook} has no docstring"


@pytest.mark.parametrize("tracker", ["redmine", "jira", "zammad"])
def test_the_commented_tracker_sections_of_the_example_work(tracker: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Uncommented, each tracker section of config.example.toml loads and builds its adapter."""
    import re

    from sla_bridge.app import build_app
    from sla_bridge.config import load_config

    text = (README.parent / "config.example.toml").read_text(encoding="utf-8")
    block = re.search(rf"^# \[trackers\.{tracker}\]\n(?:#.*\n?)*", text, re.M)
    assert block is not None, f"no commented [trackers.{tracker}] section"
    lines = [re.sub(r"^# ?", "", line) for line in block.group(0).splitlines()]
    config = tmp_path / "sla.toml"
    config.write_text(text + "\n" + "\n".join(line for line in lines if not line.startswith("#")) + "\n",
                      encoding="utf-8")
    for name in ("REDMINE_API_KEY", "JIRA_API_TOKEN", "ZAMMAD_TOKEN"):
        monkeypatch.setenv(name, "not-a-real-secret")
    app = build_app(load_config(config))  # builds the adapter: no network call
    try:
        assert type(app.adapters[tracker]).__name__.lower().startswith(tracker)
        assert "not-a-real-secret" not in repr(app.adapters[tracker])
    finally:
        app.close()
