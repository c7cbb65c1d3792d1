"""The ``sla-bridge`` command line (click). Thin: it parses, calls the core, prints.

Exit codes: 0 ok, 1 failure at run time, 2 bad usage or configuration. The commands
live beside this file by theme (``contract``: what the contract says; ``running``:
trackers and the store; ``admin``: installing); this module holds the group, its
global options (logging) and the entry point ``sla_bridge.cli:main``.
"""

from __future__ import annotations

from typing import Any

import click

from .. import __version__, logs
from ..engine import build as engine_build
from ..errors import SlaBridgeError
from ..secrets import install_log_scrubbing, scrub
from . import admin, contract, running

LOG_LEVEL_HELP = "Log level on stderr: debug, info, warning, error [default: warning; serve: info]."
LOG_FORMAT_HELP = "Log lines as text or JSON objects [default: text; serve: json]."


class _Group(click.Group):
    """Turns sla-bridge's own errors into a one-line message on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SlaBridgeError as exc:
            click.echo(f"sla-bridge: error: {scrub(str(exc))}", err=True)
            ctx.exit(exc.exit_code)


def _log_choice(key: str) -> Any:
    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value is not None:  # given after the command: it wins over the group's
            logs.override(**{key: value})
            logs.configure()
    return callback


def _log_options(hidden: bool) -> list[click.Option]:
    """The logging options; on each command too (hidden there), so they work after it as well."""
    common: dict[str, Any] = {"case_sensitive": False}
    return [
        click.Option(["--log-level"], type=click.Choice(logs.LEVELS, **common), envvar="SLA_BRIDGE_LOG_LEVEL",
                     help=LOG_LEVEL_HELP, hidden=hidden, expose_value=not hidden,
                     callback=_log_choice("level") if hidden else None),
        click.Option(["--log-format"], type=click.Choice(logs.FORMATS, **common), envvar="SLA_BRIDGE_LOG_FORMAT",
                     help=LOG_FORMAT_HELP, hidden=hidden, expose_value=not hidden,
                     callback=_log_choice("fmt") if hidden else None),
    ]


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sla-bridge",
                      message=f"%(prog)s, version %(version)s (engine: {engine_build()})")
@click.pass_context
def cli(ctx: click.Context, log_level: str | None = None, log_format: str | None = None) -> None:
    """Enforce a support contract's service levels on the trackers teams already use."""
    logs.choose(log_level, log_format)
    logs.configure()
    ctx.call_on_close(logs.reset)


cli.params.extend(_log_options(hidden=False))


def _add(group: click.Group, command: click.Command) -> None:
    command.params.extend(_log_options(hidden=True))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            sub.params.extend(_log_options(hidden=True))
    group.add_command(command)


for _command in [*contract.COMMANDS, *running.COMMANDS, *admin.COMMANDS]:
    _add(cli, _command)


def main(argv: list[str] | None = None) -> None:
    install_log_scrubbing()
    cli.main(args=argv, prog_name="sla-bridge")


__all__ = ["cli", "main"]
