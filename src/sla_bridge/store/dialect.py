"""What differs between the store's backends, and only that: the store's logic is one.

``store.core.Store`` writes its SQL once, with ``?`` placeholders and the SQL both
SQLite (3.24+) and PostgreSQL speak: upserts (``INSERT ... ON CONFLICT (...) DO
UPDATE SET ... excluded.x``, ``DO NOTHING``), row values (``(a, b) > (?, ?)``), a
partial index. A dialect fills in the few words that differ, and does the few things
each backend does its own way: the schema version, the migration's transaction, the
pass's work list (a TEMP table), the per-tracker lock.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Protocol, Sequence

from .records import Rows


class Connection(Protocol):
    """One session shared by a pass's workers: each statement runs, and is read to its
    end, under ``lock``; a multi-statement transaction holds it from BEGIN to COMMIT."""

    lock: threading.RLock

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows: ...

    def close(self) -> None: ...


class Dialect(ABC):
    name: ClassVar[str]
    # The larger of two values (the caller COALESCEs NULLs: SQLite's MAX(a, NULL) is NULL).
    greatest: ClassVar[str]
    # Equality that holds between two NULLs.
    same: ClassVar[str]
    # The pass's work list: a TEMP table of the store's session, with a `seq` giving the
    # order tickets were listed in, one row per (adapter, ticket_id).
    queue: ClassVar[str]
    queue_ddl: ClassVar[str]

    @abstractmethod
    def begin_migration(self, db: Connection) -> None:
        """Begin the migration's transaction, holding off any other process's until COMMIT."""

    @abstractmethod
    def version(self, db: Connection) -> int:
        """The number of the last migration applied (0: a new store)."""

    @abstractmethod
    def set_version(self, db: Connection, number: int) -> None: ...

    @abstractmethod
    def lock(self, adapter: str, where: str) -> AbstractContextManager[None]:
        """Hold the tracker's lock for a pass, or raise ``Busy``; released if the process dies."""
