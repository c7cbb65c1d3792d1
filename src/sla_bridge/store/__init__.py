"""The state store: sync cursors, per-ticket snapshots, next_change_at, the journal.

SQLite in one file by default (WAL, so ``status`` can read while ``serve`` writes);
PostgreSQL past one host (``[sync] store = "postgresql://user@host/db"``). Both run
one code path (``core``), the same schema and migrations (``schema``); a small
dialect says what differs (``dialect``, ``sqlite``, ``postgres``).

- ``core``: ``Store`` and ``StoreFacts``, the store's logic
- ``schema``: the migrations, and how a migration is split into statements
- ``dialect``: what a backend provides
- ``sqlite``: the file, WAL, the OS lock per tracker
- ``postgres``: the session, the advisory lock per tracker, errors said for operators
- ``location``: a file or a PostgreSQL URL (never with a password)
- ``work``: a tracker's work list, claimed ticket by ticket (shared by replicas on PostgreSQL)
- ``records``, ``errors``: what the store gives back, and what can go wrong

``MIGRATIONS`` and ``DUE_PAGE`` are read from here when used: set them here.
"""

from __future__ import annotations

from .core import RETRY_FIRST, RETRY_MAX, Store, StoreFacts
from .errors import Busy, DatabaseFailure, StoreError, store_failure
from .location import PostgresLocation, is_server_url
from .records import CursorRecord, TicketRecord
from .schema import MIGRATIONS
from .work import Claim, Claimer

DUE_PAGE = 500  # due tickets (and work-list entries) read at a time

__all__ = [
    "Busy", "Claim", "Claimer", "CursorRecord", "DUE_PAGE", "DatabaseFailure", "MIGRATIONS", "PostgresLocation", "RETRY_FIRST",
    "RETRY_MAX", "Store", "StoreError", "StoreFacts", "TicketRecord", "is_server_url", "store_failure",
]
