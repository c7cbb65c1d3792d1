"""What the HTTP face reads of the store: its own read-only connection, cheap queries.

A scrape of ``/metrics`` or a look at the status page must neither wait for a pass
(the service's connection is shared by its workers, one statement at a time) nor
slow one down, nor parse 100,000 snapshots: each request opens the store read-only
(SQLite: the file with ``mode=ro``, it can never create nor change it, and WAL lets
it read while the service writes; PostgreSQL: a session of its own whose
transactions are read-only) and asks the database for counts and short lists, with
its JSON functions over the summary ``sync.summarize`` keeps beside each snapshot.
Those JSON functions are the only SQL that differs between the two (``_JSON``).

It reads the schema the ``store`` package migrates (tables ``cursors``, ``tickets``,
``retries``, ``leases``, ``replicas``), and refuses a store of another version rather than guess.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

from ..errors import SlaBridgeError
from ..model import Ticket, ticket_from_json
from ..secrets import scrub
from ..store import MIGRATIONS, PostgresLocation

# The SQL that differs: SQLite's JSON1 functions, PostgreSQL's jsonb (the columns are TEXT on both).
_CLOCKS = {
    "sqlite": "json_each(t.evaluation, '$.clocks') c",
    "postgresql": ("jsonb_each(CASE WHEN jsonb_typeof(t.evaluation::jsonb -> 'clocks') = 'object'"
                   " THEN t.evaluation::jsonb -> 'clocks' END) c"),
}
_STATE = {"sqlite": "json_extract(c.value, '$.state')", "postgresql": "(c.value ->> 'state')"}
_TITLE = {"sqlite": "json_extract(snapshot, '$.title')", "postgresql": "(snapshot::jsonb ->> 'title')"}

FLAGGED_STATES = ("breached", "at_risk")


class StoreUnavailable(Exception):
    """The store cannot be read; the message says why (shown by /readyz)."""


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass(frozen=True)
class PassInfo:
    tracker: str
    last_started: datetime | None
    last_finished: datetime | None
    complete: bool
    errors: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=dict)
    tickets_read: int = 0


@dataclass(frozen=True)
class Flagged:
    """A ticket with a breached or at-risk clock, as the last pass summarized it."""

    ticket_id: str
    title: str
    severity: str | None
    status: str | None
    clocks: dict[str, dict[str, Any]]

    @property
    def flagged(self) -> dict[str, dict[str, Any]]:
        return {n: c for n, c in self.clocks.items() if c.get("state") in FLAGGED_STATES}

    @property
    def deadline(self) -> datetime | None:
        """The earliest deadline among its breached or at-risk clocks: what the page sorts by."""
        found = [d for d in (_parse(c.get("deadline")) for c in self.flagged.values()) if d is not None]
        return min(found) if found else None

    @property
    def breached(self) -> bool:
        return any(c.get("state") == "breached" for c in self.clocks.values())


class _Reader(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...


class _PgReader:
    """A read-only PostgreSQL session answering the store's ``?`` SQL like sqlite3 does."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        from ..store.postgres import placeholders

        return self.session.execute(placeholders(sql), tuple(params)) if params else self.session.execute(sql)


class StoreView:
    def __init__(self, path: Path | PostgresLocation) -> None:
        self.path = path
        self.backend = "postgresql" if isinstance(path, PostgresLocation) else "sqlite"

    @contextmanager
    def _db(self) -> Iterator[_Reader]:
        if isinstance(self.path, PostgresLocation):
            with self._postgres(self.path) as db:
                yield db
            return
        if not self.path.exists():
            raise StoreUnavailable(f"{self.path}: no store yet (no pass has run)")
        try:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=5,
                                 check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: cannot open the store: {exc}") from None
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != len(MIGRATIONS):
                raise StoreUnavailable(f"{self.path}: store schema version {version}, expected {len(MIGRATIONS)}")
            yield db
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: cannot read the store: {exc}") from None
        finally:
            db.close()

    @contextmanager
    def _postgres(self, location: PostgresLocation) -> Iterator[_Reader]:
        from ..store.errors import StoreError
        from ..store.postgres import connector, psycopg_module

        try:
            session = connector(location)()
        except (StoreError, SlaBridgeError) as exc:
            raise StoreUnavailable(str(exc)) from None
        driver = psycopg_module()
        try:
            session.execute("SET default_transaction_read_only = on")
            found = session.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
            if not found or not found[0]:
                raise StoreUnavailable(f"{location}: no store yet (no pass has run)")
            row = session.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = row[0] if row and row[0] is not None else 0
            if version != len(MIGRATIONS):
                raise StoreUnavailable(f"{location}: store schema version {version}, expected {len(MIGRATIONS)}")
            yield _PgReader(session)
        except driver.Error as exc:
            raise StoreUnavailable(f"{location}: cannot read the store: {scrub(' '.join(str(exc).split()))}") \
                from None
        finally:
            session.close()

    def check(self) -> None:
        """Raise StoreUnavailable unless the store opens and answers."""
        with self._db() as db:
            db.execute("SELECT COUNT(*) FROM cursors").fetchone()

    def passes(self) -> dict[str, PassInfo]:
        with self._db() as db:
            rows = db.execute("SELECT adapter, last_started, last_finished, last_summary FROM cursors").fetchall()
        found = {}
        for adapter, started, finished, summary_text in rows:
            summary = json.loads(summary_text or "{}")
            found[adapter] = PassInfo(adapter, _parse(started), _parse(finished), bool(summary.get("complete")),
                                      list(summary.get("errors") or []), list(summary.get("conflicts") or []),
                                      dict(summary.get("applied") or {}), int(summary.get("tickets_read") or 0))
        return found

    def clock_states(self) -> list[tuple[str, str, str, int]]:
        """(tracker, clock, state, tickets), for the gauges."""
        with self._db() as db:
            return [(str(a), str(c), str(s), int(n)) for a, c, s, n in db.execute(
                f"SELECT t.adapter, c.key, {_STATE[self.backend]}, COUNT(*) FROM tickets t,"
                f" {_CLOCKS[self.backend]} GROUP BY 1, 2, 3").fetchall() if s is not None]

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per tracker: (tickets known, tickets waiting for a retry)."""
        with self._db() as db:
            known = dict(db.execute("SELECT adapter, COUNT(*) FROM tickets GROUP BY adapter").fetchall())
            retries = dict(db.execute("SELECT adapter, COUNT(*) FROM retries GROUP BY adapter").fetchall())
        return {str(a): (int(known.get(a, 0)), int(retries.get(a, 0))) for a in set(known) | set(retries)}

    def earliest_changes(self) -> dict[str, datetime]:
        """Per tracker, the next instant a pass has work with no tracker event (a timed change or a retry)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT adapter, MIN(at) FROM (SELECT adapter, next_change_at AS at FROM tickets t"
                " WHERE next_change_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM retries r"
                " WHERE r.adapter = t.adapter AND r.ticket_id = t.ticket_id)"
                " UNION ALL SELECT adapter, retry_at FROM retries) AS due GROUP BY adapter").fetchall()
        return {str(a): at for a, text in rows if (at := _parse(text)) is not None}

    def flagged(self, tracker: str) -> list[Flagged]:
        """The tracker's tickets with a breached or at-risk clock, by deadline."""
        with self._db() as db:
            rows = db.execute(
                f"SELECT ticket_id, {_TITLE[self.backend]}, evaluation FROM tickets t WHERE adapter = ?"
                f" AND EXISTS (SELECT 1 FROM {_CLOCKS[self.backend]}"
                f" WHERE {_STATE[self.backend]} IN {FLAGGED_STATES!r})", (tracker,)).fetchall()
        found = []
        for ticket_id, title, evaluation_text in rows:
            evaluation = json.loads(evaluation_text or "{}")
            found.append(Flagged(str(ticket_id), str(title or ""), evaluation.get("severity"),
                                 evaluation.get("status"), dict(evaluation.get("clocks") or {})))
        return sorted(found, key=lambda f: (f.deadline is None, f.deadline or datetime.min, f.ticket_id))

    def upcoming(self, tracker: str, limit: int) -> list[Ticket]:
        """The snapshots of the tracker's tickets with the soonest timed changes."""
        with self._db() as db:
            rows = db.execute("SELECT snapshot FROM tickets WHERE adapter = ? AND next_change_at IS NOT NULL"
                              " ORDER BY next_change_at LIMIT ?", (tracker, limit)).fetchall()
        return [ticket_from_json(json.loads(text)) for (text,) in rows]

    def retries(self, tracker: str) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("SELECT ticket_id, attempts, retry_at, error FROM retries WHERE adapter = ?"
                              " ORDER BY retry_at", (tracker,)).fetchall()
        return [{"ticket_id": t, "attempts": n, "retry_at": _parse(at), "error": e} for t, n, at, e in rows]

    def leases(self) -> dict[str, dict[str, Any]]:
        """Per tracker: the replica polling it, its lease's expiry and that replica's last heartbeat."""
        with self._db() as db:
            rows = db.execute("SELECT l.adapter, l.holder, l.taken_at, l.expires_at, r.heartbeat_at FROM leases l"
                              " LEFT JOIN replicas r ON r.holder = l.holder").fetchall()
        return {str(a): {"holder": str(h), "taken_at": _parse(t), "expires_at": _parse(e), "heartbeat_at": _parse(b)}
                for a, h, t, e, b in rows}

    def replicas(self) -> list[dict[str, Any]]:
        """The replicas the store heard of, with their last heartbeat (latest first)."""
        with self._db() as db:
            rows = db.execute("SELECT holder, started_at, heartbeat_at, expires_at FROM replicas"
                              " ORDER BY heartbeat_at DESC, holder").fetchall()
        return [{"holder": str(h), "started_at": _parse(s), "heartbeat_at": _parse(b), "expires_at": _parse(e)}
                for h, s, b, e in rows]

    def snapshot(self, tracker: str, ticket_id: str) -> Ticket | None:
        with self._db() as db:
            row = db.execute("SELECT snapshot FROM tickets WHERE adapter = ? AND ticket_id = ?",
                             (tracker, ticket_id)).fetchone()
        return ticket_from_json(json.loads(row[0])) if row else None
