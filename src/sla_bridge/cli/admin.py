"""Commands for the admin who installs sla-bridge: init, plugins, demo, copy-store."""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from .. import __version__
from ..errors import ConfigError, InputError, SlaBridgeError
from .common import console, echo_json, json_option

DIST = "sla-bridge"
STORE_LINE = re.compile(r'(?m)^store = "[^"\n]*"')


def _example(store: Path | None) -> str:
    from ..demo import example_config_text

    text = example_config_text()
    if store is not None:  # a TOML basic string: JSON's escapes are TOML's
        text = STORE_LINE.sub(lambda _: f"store = {json.dumps(str(store))}", text, count=1)
    return text


@click.command("init")
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), default="config.toml")
@click.option("--store", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Where the state store goes (e.g. /var/lib/sla-bridge/sla-bridge.sqlite); default: beside PATH.")
def init_command(path: Path, store: Path | None) -> None:
    """Write the annotated example configuration to PATH (default: config.toml); "-" prints it.

    An existing file is never overwritten (exit code 2): it is a contract someone filled in.
    """
    text = _example(store)
    if str(path) == "-":
        click.echo(text, nl=False)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as handle:  # "x": fails if it exists, even if created meanwhile
            handle.write(text)
    except FileExistsError:
        raise InputError(f"{path}: already exists; not overwritten. Remove it first, or print the example"
                         " with `sla-bridge init -` to compare") from None
    except OSError as exc:
        raise SlaBridgeError(f"{path}: cannot write: {exc.strerror or exc}") from None
    click.echo(f"wrote {path}: the example contract, every value annotated with its clause. Next: adapt it, add"
               " a [trackers.NAME] section (commented examples inside; secrets from the environment or files),"
               f" then run: sla-bridge check-config {path} --connect", err=True)


class _Recorder:
    """Stands in for the adapter registry to learn which plugin registers which adapter types."""

    def __init__(self) -> None:
        self.types: list[str] = []

    def add(self, adapter_type: str, factory: Any) -> None:
        self.types.append(adapter_type)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return __version__ if dist == DIST else "?"


def collect_plugins() -> dict[str, Any]:
    """Every plugin the plugin manager loads (built-in and entry points) and the adapter types each adds."""
    from ..plugins import BUILTIN_PLUGINS, build_plugin_manager, build_registry

    try:
        pm = build_plugin_manager()
    except SlaBridgeError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken third-party plugin is the admin's to know about
        raise ConfigError(f"a plugin failed to load: {type(exc).__name__}: {exc}") from None
    build_registry(pm)  # refuses an adapter type registered twice, as sync would
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    points = {ep.name: ep.value for ep in metadata.entry_points(group="sla_bridge")}
    plugins, adapters = [], []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        builtin = name in BUILTIN_PLUGINS
        dist = dists.get(id(plugin))
        dist_name = DIST if builtin or dist is None else dist.project_name
        row = {"name": name, "distribution": dist_name, "version": _version(dist_name), "builtin": builtin,
               "entry_point": None if builtin else f"{name} = {points.get(name, '?')}",
               "hooks": sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])}
        plugins.append(row)
        recorder = _Recorder()
        for impl in pm.hook.sla_bridge_register_adapters.get_hookimpls():
            if impl.plugin is plugin:
                impl.function(registry=recorder)
        adapters += [{"type": t, "plugin": name, "distribution": dist_name, "version": row["version"],
                      "builtin": builtin} for t in recorder.types]
    return {"adapters": sorted(adapters, key=lambda a: a["type"]), "plugins": plugins}


@click.command("plugins")
@json_option
def plugins_command(as_json: bool) -> None:
    """The tracker adapters and plugins found: built in, and from installed packages (entry points,
    group "sla_bridge"), with their distribution and version.

    Exit code 2 when a plugin fails to load or two register the same adapter type.
    """
    found = collect_plugins()
    if as_json:
        echo_json(found)
        return
    out = console()
    table = Table(title=escape('Adapter types ([trackers.NAME] adapter = "...")'), title_justify="left")
    for column in ("adapter", "from plugin", "distribution", "version"):
        table.add_column(column)
    for a in found["adapters"]:
        table.add_row(escape(a["type"]), escape(a["plugin"]), escape(a["distribution"]), escape(a["version"]))
    out.print(table)
    table = Table(title="Plugins", title_justify="left")
    for column in ("plugin", "distribution", "version", "origin", "hooks"):
        table.add_column(column)
    for p in found["plugins"]:
        origin = "built in" if p["builtin"] else f"entry point {p['entry_point']}"
        table.add_row(escape(p["name"]), escape(p["distribution"]), escape(p["version"]), escape(origin),
                      escape(", ".join(h.removeprefix("sla_bridge_") for h in p["hooks"])))
    out.print(table)


@click.command("demo")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Contract to run (default: the built-in example contract).")
def demo_command(config: Path | None) -> None:
    """Run the contract over built-in sample tickets through three simulated weeks."""
    from ..demo import demo_config, run_demo

    run_demo(console(), demo_config(config) if config is not None else None)


@click.command("copy-store")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def copy_store_command(source: Path, destination: Path, as_json: bool) -> None:
    """Copy the state store of the SOURCE configuration into the empty store of DESTINATION's.

    Both are configuration files; each names its store (`[sync] store`, and `store_password`
    for PostgreSQL). Typically DESTINATION is SOURCE with `store` turned into a PostgreSQL
    URL, to run several replicas. Stop the service first. The copy is one transaction,
    made while every tracker's lock is held; the source is not written to (opening it
    migrates an older schema, as every command does). Exit code 2 when the destination
    already holds state or the source none.
    """
    from datetime import datetime, timezone

    from ..app import open_store
    from ..config import load_config
    from ..store.copy import copy_store

    old, new = load_config(source), load_config(destination)
    if isinstance(old.store_path, Path) and not old.store_path.exists():
        raise InputError(f"{source}: its store {old.store_path} does not exist: nothing to copy")
    dropped = sorted(set(old.file.trackers) - set(new.file.trackers))
    from_store = open_store(old)
    try:
        to_store = open_store(new)
        try:
            copied = copy_store(from_store, to_store, datetime.now(timezone.utc))
        finally:
            to_store.close()
    finally:
        from_store.close()
    if as_json:
        echo_json({"source": str(from_store.path), "destination": str(to_store.path), "rows": copied.rows,
                   "trackers_not_in_destination": dropped})
        return
    out = console()
    out.print(f"copied {escape(str(from_store.path))} into {escape(str(to_store.path))}; rows:"
              f" {', '.join(f'{table} {n:,}' for table, n in copied.rows.items())}")
    if dropped:
        out.print(f"note: {escape(', '.join(dropped))} kept in the copy, but not configured in {escape(str(destination))}")


COMMANDS = [init_command, plugins_command, demo_command, copy_store_command]
