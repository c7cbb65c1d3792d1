"""The plugin hooks of sla-bridge (pluggy). Each one is documented in the README.

One *registry* hook lets plugins contribute tracker adapters; the *observer* hooks
are told what happened after the fact (for notifications: chat, e-mail, metrics).
An observer that raises is logged and ignored: it can never break a sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .actions import Action
    from .engine import ClockEvaluation, Evaluation
    from .model import Ticket
    from .plugins import AdapterRegistry
    from .sync import SyncSummary

PROJECT = "sla_bridge"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def sla_bridge_register_adapters(registry: "AdapterRegistry") -> None:
    """Add adapter types with ``registry.add(adapter_type, factory)``.

    ``adapter_type`` is what ``[trackers.<name>] adapter = "..."`` names; the factory
    (usually the adapter class) is called as ``factory(name, section, config)``.
    Registering a type twice fails at start-up.
    """


@hookspec
def sla_bridge_breach(ticket: "Ticket", clock: "ClockEvaluation", evaluation: "Evaluation") -> None:
    """A clock of ``ticket`` became breached during this sync (called once per breach)."""


@hookspec
def sla_bridge_action_applied(ticket: "Ticket", action: "Action", adapter: str) -> None:
    """``action`` was applied to ``ticket`` on the tracker instance ``adapter``."""


@hookspec
def sla_bridge_sync_finished(adapter: str, summary: "SyncSummary") -> None:
    """One sync pass of ``adapter`` ended (completed or not: see ``summary.complete``)."""

