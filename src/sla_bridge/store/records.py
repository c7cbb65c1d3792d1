"""What the store gives back, and how it writes instants (the same for every backend)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from ..actions import Applied
from ..model import Ticket


def utc(t: datetime | None) -> str | None:
    """UTC ISO strings sort like the instants they name, which the index relies on."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if t else None


def parse_instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass(frozen=True)
class TicketRecord:
    adapter: str
    ticket_id: str
    updated: datetime | None
    snapshot: Ticket
    applied: Applied
    evaluation: dict[str, Any]
    next_change_at: datetime | None


@dataclass(frozen=True)
class CursorRecord:
    adapter: str
    cursor: datetime | None
    last_started: datetime | None
    last_finished: datetime | None
    last_summary: dict[str, Any]


class Rows:
    """A statement's rows, read to the end while the connection's lock was held."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)
