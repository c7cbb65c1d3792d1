"""Logging for every command: a level, text or JSON lines on stderr, secrets scrubbed.

``--log-level`` and ``--log-format`` are options of the command group, so they mean the
same for every command. The defaults differ by who reads the lines: one-shot commands
(``sync``, ``status``, ...) print their result on stdout, so their log defaults to
``warning`` as text (problems only, for the person or cron mail reading it); ``serve``
defaults to ``info`` as JSON lines (one object per line, for journald, Docker or any
collector). A choice made on the command line (or in ``SLA_BRIDGE_LOG_LEVEL`` /
``SLA_BRIDGE_LOG_FORMAT``) wins over both.

``SyncLog`` is the built-in plugin that logs what a sync did, through the same observer
hooks as any notification plugin: each write at info (ticket and kind), each pass at
its end, a failed one as an error with its reasons.
"""

from __future__ import annotations

import json
import logging
import sys
import weakref
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any

from .hookspecs import hookimpl
from .secrets import install_log_scrubbing, scrub
from .text import plural, writes_text

if TYPE_CHECKING:
    from .actions import Action
    from .model import Ticket
    from .sync import SyncSummary

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
# Structured fields a log call may pass with ``extra=``; JSON lines carry them as keys.
FIELDS = ("adapter", "ticket", "kind", "action", "attempt", "wait_seconds", "errors", "summary")
MAX_REASONS = 3  # errors quoted in a failed pass's line; JSON carries them all

log = logging.getLogger("sla_bridge.sync")


def _at(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``at`` (UTC), ``level``, ``logger``, ``message``, and the
    structured fields of `FIELDS` the call gave; every string scrubbed of secrets."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"at": _at(record), "level": record.levelname.lower(), "logger": record.name,
                                "message": record.getMessage()}
        for key in FIELDS:
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["error"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(_scrubbed(data), ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2025-05-21T10:00:03Z WARNING sla_bridge.httpclient: message`` (UTC), scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_at(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + (record.exc_text or self.formatException(record.exc_info))
        return scrub(line)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is written (not when it was made), so a
    test runner's or click's swapped stream never leaves a handler on a closed file."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_chosen: dict[str, str | None] = {"level": None, "format": None}


def choose(level: str | None, fmt: str | None) -> None:
    """What the command line asked for (None: not asked), kept for `configure`."""
    _chosen.update(level=level.lower() if level else None, format=fmt.lower() if fmt else None)


def override(level: str | None = None, fmt: str | None = None) -> None:
    """A choice given after the command name: it replaces the group's, one option at a time."""
    choose(level or _chosen["level"], fmt or _chosen["format"])


_before: list[int] = []  # the root logger's level before sla-bridge's first handler, for `reset`


def configure(default_level: str = "warning", default_format: str = "text") -> logging.Handler:
    """Install sla-bridge's handler on the root logger (replacing its own earlier one, never
    another's), with the command line's choice or these defaults."""
    install_log_scrubbing()
    level = _chosen["level"] or default_level
    fmt = _chosen["format"] or default_format
    root = logging.getLogger()
    if not _before:
        _before.append(root.level)
    for old in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(old)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def reset() -> None:
    """Take sla-bridge's handler off again, as the command ends (the process may go on: a test, a
    program calling ``main``): the root logger is left as it was found."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(old)
    if _before:
        root.setLevel(_before.pop())
    choose(None, None)


class SyncLog:
    """The built-in plugin that logs what each sync did (registered by the command line)."""

    def __init__(self) -> None:
        # Summaries already logged, by identity (a summary is a mutable dataclass, not hashable).
        self._logged: dict[int, weakref.ref[SyncSummary]] = {}

    @hookimpl
    def sla_bridge_action_applied(self, ticket: Ticket, action: Action, adapter: str) -> None:
        from .sync import describe

        said = describe(action)  # names the kind: "labels +x", "post public reminder [key]", ...
        log.info("%s:%s: %s", adapter, ticket.id, said,
                 extra={"adapter": adapter, "ticket": ticket.id, "kind": action.kind, "action": said})

    @hookimpl
    def sla_bridge_sync_finished(self, adapter: str, summary: SyncSummary) -> None:
        self.pass_ended(summary)

    def pass_ended(self, summary: SyncSummary) -> None:
        """Log the end of a pass once (the hook is not called for a dry run or a pass that could
        not take its tracker's lock: the command line calls this for every pass)."""
        seen = self._logged.get(id(summary))
        if seen is not None and seen() is summary:
            return
        self._logged = {k: r for k, r in self._logged.items() if r() is not None}
        self._logged[id(summary)] = weakref.ref(summary)
        what = "dry-run pass" if summary.dry_run else "pass"
        facts = {"complete": summary.complete, "tickets_read": summary.tickets_read,
                 "tickets_evaluated": summary.tickets_evaluated, "applied": dict(summary.applied),
                 "conflicts": len(summary.conflicts), "left_alone": len(summary.left_alone)}
        extra = {"adapter": summary.adapter, "summary": facts, "errors": list(summary.errors)}
        if summary.errors or not summary.complete:
            reasons = "; ".join(summary.errors[:MAX_REASONS]) or "stopped before the end"
            if len(summary.errors) > MAX_REASONS:
                reasons += f" (and {len(summary.errors) - MAX_REASONS} more)"
            state = "failed" if not summary.complete else f"finished with {plural(len(summary.errors), 'error')}"
            log.error("%s: %s %s: %s", summary.adapter, what, state, reasons, extra=extra)
            return
        log.info("%s: %s finished: %s evaluated, %s read; %s", summary.adapter, what,
                 plural(summary.tickets_evaluated, "ticket"), summary.tickets_read, writes_text(dict(summary.applied)),
                 extra=extra)
