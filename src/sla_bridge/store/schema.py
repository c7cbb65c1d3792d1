"""The store's schema: one list of migrations, the same for SQLite and PostgreSQL.

Migration N is the same change on both backends (their SQL is written in the part of
SQL both speak: TEXT columns holding UTC ISO instants, composite keys, partial
indexes, ``ALTER TABLE ... ADD COLUMN``). Each backend keeps the number of the last
one applied its own way (``store.sqlite``: ``PRAGMA user_version``;
``store.postgres``: a ``schema_version`` table), and both apply the missing ones in
one transaction at open.
"""

from __future__ import annotations

import sqlite3
from typing import Iterator

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE cursors (
        adapter TEXT PRIMARY KEY,
        cursor TEXT,
        last_started TEXT,
        last_finished TEXT,
        last_summary TEXT
    );
    CREATE TABLE tickets (
        adapter TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        updated TEXT,
        snapshot TEXT NOT NULL,
        applied TEXT NOT NULL DEFAULT '{}',
        evaluation TEXT NOT NULL DEFAULT '{}',
        next_change_at TEXT,
        PRIMARY KEY (adapter, ticket_id)
    );
    CREATE INDEX tickets_next_change ON tickets (next_change_at) WHERE next_change_at IS NOT NULL;
    CREATE TABLE journal (
        key TEXT PRIMARY KEY,
        adapter TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        applied_at TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    """,
    # 2: tickets that failed, retried with backoff instead of every pass or never
    """
    CREATE TABLE retries (
        adapter TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        retry_at TEXT NOT NULL,
        error TEXT NOT NULL,
        PRIMARY KEY (adapter, ticket_id)
    );
    """,
    # 3: the `updated` a ticket failed at, so an unchanged failed ticket waits for its retry
    """
    ALTER TABLE retries ADD COLUMN updated TEXT;
    """,
    # 4: when the snapshot was read, to tell it from an edit in the same second (Redmine's precision)
    """
    ALTER TABLE tickets ADD COLUMN read_at TEXT;
    """,
    # 5: what adapters learnt about their tracker (server version, API user, refused options)
    """
    CREATE TABLE facts (
        adapter TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        learnt_at TEXT NOT NULL,
        PRIMARY KEY (adapter, key)
    );
    """,
    # 6: several `serve` replicas on one store: each one's heartbeat, and who polls which tracker
    """
    CREATE TABLE replicas (
        holder TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE TABLE leases (
        adapter TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        taken_at TEXT NOT NULL,
        renewed_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    """,
    # 7: the work list shared by the replicas of a PostgreSQL store (``store.work``; SQLite
    # keeps each pass's list in a TEMP table of the same shape)
    """
    CREATE TABLE work_queue (
        adapter TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        updated TEXT,
        due INTEGER NOT NULL DEFAULT 0,
        gen INTEGER NOT NULL DEFAULT 0,
        claim BIGINT,
        PRIMARY KEY (adapter, ticket_id)
    );
    CREATE INDEX work_queue_order ON work_queue (adapter, seq);
    """,
)


def statements(script: str) -> Iterator[str]:
    """Split a migration into statements where SQLite's parser says one is complete (a `;`
    inside a string or a trigger body does not end one). A check of the text only, used
    for both backends: PostgreSQL runs the same statements one by one."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                yield pending
            pending = ""
    if pending.strip(" \n\t;"):
        yield pending.rstrip(";")  # incomplete: SQLite reports the error
