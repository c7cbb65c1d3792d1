"""Where the store lives: a SQLite file (the default), or a PostgreSQL server's URL.

This module imports no database driver: the configuration checks a URL with it, and
an installation that only ever uses SQLite never needs psycopg.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ..secrets import SecretRef

SCHEMES = ("postgresql://", "postgres://")
NO_PASSWORD = ('the URL holds a password: remove it, and give the password as store_password ='
               ' { env = "VARIABLE" } or { file = "/path/to/secret" } in [sync] (a password is never'
               ' written in clear)')


def is_server_url(text: str) -> bool:
    """A PostgreSQL URL (libpq's form), not a file name."""
    return text.strip().lower().startswith(SCHEMES)


def check_server_url(url: str) -> str:
    """`url` itself, or ValueError when it holds a password (the message does not echo it)."""
    parts = urlsplit(url.strip())
    query = {k.lower() for k in parse_qs(parts.query, keep_blank_values=True)}
    if parts.password is not None or "password" in query:
        raise ValueError(NO_PASSWORD)
    return url.strip()


@dataclass(frozen=True)
class PostgresLocation:
    """A PostgreSQL store: its URL (never with a password) and where the password is read.

    ``str()`` gives the URL, which messages name the store by. ``exists()`` is True: a
    server store is made (its schema migrated) at its first open, and whether the server
    answers is for opening it to say.
    """

    url: str
    password: SecretRef | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", check_server_url(self.url))

    def exists(self) -> bool:
        return True

    def __str__(self) -> str:
        return self.url


def locate(where: str | Path | PostgresLocation) -> Path | PostgresLocation:
    """A store's location from what a caller holds: a path, a URL, or a location already."""
    if isinstance(where, PostgresLocation):
        return where
    if isinstance(where, str) and is_server_url(where):
        return PostgresLocation(where)
    return Path(where)
