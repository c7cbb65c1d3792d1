"""Wiring at the edge: plugins, adapters and the store, built from a loaded config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import pluggy

from .adapters.base import Adapter, AdapterFactory
from .config import Config, TrackerSection
from .errors import ConfigError
from .plugins import build_plugin_manager, build_registry
from .httpclient import Gate
from .store import Store, StoreFacts
from .sync.budget import SiteBudget


@dataclass
class App:
    config: Config
    pm: pluggy.PluginManager
    adapters: dict[str, Adapter]
    store: Store

    def close(self) -> None:
        self.store.close()


def build_app(config: Config, only: str | None = None, extra_plugins: Iterable[Any] = ()) -> App:
    """Everything a sync needs; fails (exit 2) before anything is written when a piece is wrong."""
    pm = build_plugin_manager(extra_plugins)
    registry = build_registry(pm)
    sections = config.file.trackers
    if only is not None and only not in sections:
        raise ConfigError(f"{config.path}: no tracker named {only!r}; configured: {', '.join(sections) or 'none'}")
    if not sections:
        raise ConfigError(f"{config.path}: trackers: no tracker is configured (add a [trackers.<name>] section)")
    adapters = {name: build_adapter(registry.get(section.adapter), name, section, config)
                for name, section in sections.items() if only in (None, name)}
    store = open_store(config)
    for name, adapter in adapters.items():
        if hasattr(adapter, "facts"):  # what it learns about its tracker outlives the process
            setattr(adapter, "facts", StoreFacts(store, name))
        gate = getattr(adapter, "gate", None)
        if store.shared_work and isinstance(gate, Gate):  # replicas share the tracker: its budget too
            gate.board = SiteBudget(store, name)
    return App(config, pm, adapters, store)


def open_store(config: Config) -> Store:
    """The store the configuration names: a SQLite file, or a PostgreSQL server (whose
    password is read now: unset, it is a configuration error naming the file)."""
    try:
        return Store(config.store_path)
    except ConfigError as exc:
        if str(exc).startswith(str(config.path)):
            raise
        raise ConfigError(f"{config.path}: {exc}") from None


def build_adapter(factory: AdapterFactory, name: str, section: TrackerSection, config: Config) -> Adapter:
    """One adapter; a config error that does not say where gets the file and the section."""
    try:
        return factory(name, section, config)
    except ConfigError as exc:
        if str(exc).startswith(str(config.path)):
            raise
        raise ConfigError(f"{config.path}: trackers.{name}: {exc}") from None
