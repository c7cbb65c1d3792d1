"""Copy a store's lasting state into an empty store, of either backend (SQLite to PostgreSQL
to run several replicas, or back).

What lasts is copied row for row, the same text in the same columns (both backends
hold the same schema, migration for migration): each tracker's cursor and last pass,
every ticket's snapshot with what was applied and its next timed change, the journal
of writes (what keeps a reminder a person deleted from being posted again), the
retries, and what adapters learnt about their trackers. What belongs to running
processes is not: replicas, leases and work lists are made again by the next ``serve``.

The copy is one transaction on the destination, checked before it commits: it is all
there or not at all. The source is read, never written (opening it migrates an older
schema forward, as every command does), in one snapshot, while the copy holds every
tracker's lock: a `sync` cannot run during it, and a live `serve` replica refuses it.
"""

from __future__ import annotations

import sqlite3
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .core import Store
from .errors import Busy, StoreError

# Table -> its columns, in the order of the migrations: what a store keeps between runs.
LASTING: dict[str, tuple[str, ...]] = {
    "cursors": ("adapter", "cursor", "last_started", "last_finished", "last_summary"),
    "tickets": ("adapter", "ticket_id", "updated", "snapshot", "applied", "evaluation", "next_change_at", "read_at"),
    "journal": ("key", "adapter", "ticket_id", "kind", "applied_at", "detail"),
    "retries": ("adapter", "ticket_id", "attempts", "retry_at", "error", "updated"),
    "facts": ("adapter", "key", "value", "learnt_at"),
}
# Each table's primary key: the source is read in its order, a batch at a time.
KEYS: dict[str, tuple[str, ...]] = {"cursors": ("adapter",), "tickets": ("adapter", "ticket_id"), "journal": ("key",),
                                    "retries": ("adapter", "ticket_id"), "facts": ("adapter", "key")}
BATCH = 500  # rows read from the source at a time: a store of 100,000 tickets is not held in memory


class NotEmpty(StoreError):
    """The destination already holds state: a copy would mix two histories."""

    exit_code = 2


@dataclass(frozen=True)
class Copied:
    """Rows copied, per table (in ``LASTING``'s order)."""

    rows: dict[str, int]


class NothingToCopy(StoreError):
    """The source holds no state: most likely the wrong store."""

    exit_code = 2


def copy_store(source: Store, destination: Store, now: datetime) -> Copied:
    """Copy ``LASTING`` from `source` into `destination`, which must hold none of it."""
    if str(source.path) == str(destination.path):
        raise NotEmpty(f"{destination.path}: the source and the destination are the same store")
    try:
        return _copy(source, destination, now)
    except StoreError:
        raise
    except sqlite3.Error as exc:  # a damaged file, a full disk, a locked one
        raise StoreError(f"copying {source.path} into {destination.path} failed ({exc}); nothing was kept in"
                         " the destination") from None


def _copy(source: Store, destination: Store, now: datetime) -> Copied:
    if source.schema_version != destination.schema_version:  # both were just migrated: a newer one refused
        raise StoreError(f"{source.path} has schema version {source.schema_version},"
                         f" {destination.path} {destination.schema_version}")
    running = source.live_replicas(now)
    if running:
        raise StoreError(f"{source.path}: a service is running on this store ({', '.join(running)}): stop it"
                         " first, so that no pass writes to it during the copy")
    held = {table: _count(destination, table) for table in LASTING}
    if any(held.values()):
        what = ", ".join(f"{table} {n}" for table, n in held.items() if n)
        raise NotEmpty(f"{destination.path}: the destination store is not empty (rows: {what}): copy into a new"
                       " store, never over one in use")
    with ExitStack() as locks:
        for adapter in _adapters(source):  # no `sync` of any of them while the copy reads
            try:
                locks.enter_context(source.lock(adapter))
            except Busy:
                raise StoreError(f"{source.path}: a pass of {adapter!r} is running: copy once it is over, with"
                                 " the service stopped") from None
        with _snapshot(source):
            rows = _copy_tables(source, destination)
    if not any(rows.values()):
        raise NothingToCopy(f"{source.path}: the store holds no state (no tracker, ticket or journal): nothing to"
                            " copy; is it the right store?")
    return Copied(rows)


def _adapters(store: Store) -> list[str]:
    found = store._db.execute("SELECT adapter FROM cursors UNION SELECT adapter FROM tickets"
                              " UNION SELECT adapter FROM journal").fetchall()
    return sorted(str(row[0]) for row in found)


class _snapshot:
    """The source read in one transaction: every table as of one moment (SQLite in WAL mode
    and PostgreSQL's repeatable read both give a snapshot, and neither blocks writers)."""

    def __init__(self, store: Store) -> None:
        self._db = store._db
        self._begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if store.backend == "postgresql" else "BEGIN"

    def __enter__(self) -> None:
        self._db.lock.acquire()
        self._db.execute(self._begin)

    def __exit__(self, *exc: object) -> None:
        try:
            self._db.execute("ROLLBACK")  # read only: nothing to keep
        except Exception:  # noqa: BLE001 - the session is gone: so is its transaction
            pass
        finally:
            self._db.lock.release()


def _copy_tables(source: Store, destination: Store) -> dict[str, int]:
    """Every lasting table, in one transaction on the destination, committed once the counts agree."""
    rows: dict[str, int] = {}
    db = destination._db
    with db.lock:
        db.execute("BEGIN")
        try:
            for table, columns in LASTING.items():
                rows[table] = _copy_table(source, destination, table, columns)
                there, here = _count(source, table), _count(destination, table)
                if not there == here == rows[table]:
                    raise StoreError(f"{destination.path}: {table}: {rows[table]} rows copied, but the source"
                                     f" holds {there} and the destination {here}; nothing was kept")
            db.execute("COMMIT")
        except BaseException:
            try:
                db.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - the session is gone: so is its transaction
                pass
            raise
    return rows


def _count(store: Store, table: str) -> int:
    row = store._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _copy_table(source: Store, destination: Store, table: str, columns: tuple[str, ...]) -> int:
    """The table's rows, in primary-key order, a batch at a time (keyset paging on the key)."""
    key = KEYS[table]
    names = ", ".join(columns)
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
    order = ", ".join(key)
    after: tuple[Any, ...] | None = None
    copied = 0
    while True:
        if after is None:
            batch = source._db.execute(f"SELECT {names} FROM {table} ORDER BY {order} LIMIT {BATCH}").fetchall()
        else:
            batch = source._db.execute(f"SELECT {names} FROM {table} WHERE ({order}) > ({', '.join('?' * len(key))})"
                                       f" ORDER BY {order} LIMIT {BATCH}", after).fetchall()
        for row in batch:
            destination._db.execute(insert, tuple(row))
        copied += len(batch)
        if len(batch) < BATCH:
            return copied
        after = tuple(batch[-1][: len(key)])
