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
from .work import Claimer


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
    # The work list (``store.work``): its table, one row per (adapter, ticket_id), and the
    # statements that make it where it is not part of the schema (SQLite's TEMP table).
    queue: ClassVar[str]
    queue_ddl: ClassVar[tuple[str, ...]]
    # Whether other processes share it (PostgreSQL), and so may claim from it.
    shared_queue: ClassVar[bool]
    # What the claim's SELECT adds so two sessions never pick one row.
    skip_locked: ClassVar[str]
    # A condition on the work list's row `q`: its claimer is gone.
    orphaned: ClassVar[str]

    @abstractmethod
    def begin_migration(self, db: Connection) -> None:
        """Begin the migration's transaction, holding off any other process's until COMMIT."""

    @abstractmethod
    def version(self, db: Connection) -> int:
        """The number of the last migration applied (0: a new store)."""

    @abstractmethod
    def set_version(self, db: Connection, number: int) -> None: ...

    @abstractmethod
    def claimer(self) -> AbstractContextManager[Claimer]:
        """A claimer for a pass's workers, alive until the block ends (or the process dies)."""

    @abstractmethod
    def lock(self, adapter: str, where: str) -> AbstractContextManager[None]:
        """Hold the tracker's lock for a pass, or raise ``Busy``; released if the process dies."""
