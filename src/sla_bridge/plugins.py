"""Build the plugin manager and the adapter registry (in a function, never at import).

Built-in adapters are ordinary plugins registered the same way as third-party ones
(entry-point group ``sla_bridge``), so a third-party adapter has no second-class path.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .adapters.base import AdapterFactory
from .errors import ConfigError

log = logging.getLogger(__name__)

BUILTIN_PLUGINS = ("sla_bridge.adapters.memory", "sla_bridge.adapters.redmine", "sla_bridge.adapters.jira",
                   "sla_bridge.adapters.zammad")


class AdapterRegistry:
    """Adapter types by name; a name registered twice is refused."""

    def __init__(self) -> None:
        self._factories: dict[str, tuple[AdapterFactory, str]] = {}
        self._current_plugin = "?"

    def add(self, adapter_type: str, factory: AdapterFactory) -> None:
        if adapter_type in self._factories:
            first = self._factories[adapter_type][1]
            raise ConfigError(f"adapter type {adapter_type!r} is registered twice: by {first} and by"
                              f" {self._current_plugin}")
        self._factories[adapter_type] = (factory, self._current_plugin)

    def get(self, adapter_type: str) -> AdapterFactory:
        try:
            return self._factories[adapter_type][0]
        except KeyError:
            known = ", ".join(sorted(self._factories)) or "none"
            raise ConfigError(f"unknown adapter {adapter_type!r}; known adapters: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._factories)


def build_plugin_manager(extra_plugins: Iterable[Any] = (), load_entry_points: bool = True) -> pluggy.PluginManager:
    import importlib

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    if load_entry_points:
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    for plugin in extra_plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm


def build_registry(pm: pluggy.PluginManager) -> AdapterRegistry:
    registry = AdapterRegistry()
    for impl in pm.hook.sla_bridge_register_adapters.get_hookimpls():
        registry._current_plugin = impl.plugin_name
        impl.function(registry=registry)
    registry._current_plugin = "?"
    return registry


def notify(pm: pluggy.PluginManager, hook: str, **kwargs: Any) -> None:
    """Call an observer hook; a failing observer is logged, never propagated."""
    caller = getattr(pm.hook, hook)
    for impl in caller.get_hookimpls():
        try:
            impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
        except Exception:  # noqa: BLE001 - an observer must not break a sync
            log.exception("plugin %s failed in %s", impl.plugin_name, hook)
