"""What can go wrong with the store, said with what the operator should do about it."""

from __future__ import annotations

import sqlite3

from ..errors import SlaBridgeError


class StoreError(SlaBridgeError):
    pass


class Busy(StoreError):
    """Another pass of the same tracker holds its lock."""


class DatabaseFailure(StoreError, sqlite3.DatabaseError):
    """A PostgreSQL store's failure, already said with the store's URL and what to check.

    It is also a ``sqlite3.DatabaseError``, on purpose: the sync ends a pass on
    ``sqlite3.Error`` (the store is unusable: stop, keep the cursor, report it through
    ``store_failure``) and takes any other exception inside a ticket for that ticket's
    trouble. A lost PostgreSQL connection must end the pass the same way, not defer
    every ticket one after the other.
    """


def store_failure(path: object, exc: sqlite3.Error) -> StoreError:
    """A failure of the store itself, said with what the operator should do about it."""
    if isinstance(exc, StoreError):
        return exc  # a server store's failure comes already said (store.postgres.failure)
    text = str(exc)
    if "full" in text:
        advice = ("the disk is full: free space and run again; nothing is lost, each ticket is recorded"
                  " right after its own writes")
    elif "malformed" in text or "not a database" in text or "corrupt" in text:
        advice = ("the file is damaged: restore it from a backup, or move it aside to start a new one"
                  " (reminders already posted are found again by their markers on the tracker; the record"
                  " of comments a person deleted is lost)")
    else:
        advice = "check the file's permissions and the disk"
    return StoreError(f"{path}: the state store failed ({text}): {advice}")
