"""The PostgreSQL backend: the same store on a server, for more than one host.

The store's logic is ``store.core``'s, the same as on SQLite; this module does what
PostgreSQL does its own way:

- **one session, serialized** (``PgSession``): a pass's workers share it, one
  statement at a time, as they share SQLite's connection. A session the
  server dropped fails its statement (the pass ends, as on a full disk) and the next
  statement opens a new one, so ``serve`` outlives a server restart;
- **the tracker's lock**: ``pg_try_advisory_lock`` on a session of its own, held for
  the pass; the server releases it when that session ends, a crash included. Its key
  is (the store's schema, the tracker), so stores in two schemas of one database do
  not block each other;
- **the work list** is the shared table ``work_queue``: rows claimed with ``SKIP
  LOCKED``, each claim tied to an advisory lock of its claimer's session (``store.work``);
- **the schema version**: a ``schema_version`` table, and migrations serialized
  between processes by a transaction-level advisory lock;
- **errors** said with the store's URL (never a password: the URL holds none) and
  what to check; as a ``DatabaseFailure`` (a ``StoreError``).

psycopg (3) is imported only here, only when a PostgreSQL store is opened.
"""

from __future__ import annotations

import secrets
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..secrets import scrub
from .dialect import Connection, Dialect
from .errors import Busy, DatabaseFailure
from .location import PostgresLocation
from .records import Rows
from .work import Claimer

if TYPE_CHECKING:
    import psycopg

# A tracker's lock, and the migrations' (two-key advisory locks: no clash with a
# one-key lock another application of the database may take).
TRACKER_LOCK = "SELECT pg_try_advisory_lock(hashtext(COALESCE(current_schema(), '')), hashtext(%s))"
TRACKER_UNLOCK = "SELECT pg_advisory_unlock(hashtext(COALESCE(current_schema(), '')), hashtext(%s))"
MIGRATION_LOCK = ("SELECT pg_advisory_xact_lock(hashtext('sla-bridge schema'),"
                  " hashtext(COALESCE(current_schema(), '')))")
# The first key of a claimer's advisory lock (``store.work``); the second is its random token.
CLAIMS = 1397506627
CONNECT_TIMEOUT = 10  # seconds, unless the URL says connect_timeout


def placeholders(sql: str) -> str:
    """The store's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled).

    The store's SQL has no ``?`` inside a string literal nor a JSON ``?`` operator."""
    return sql.replace("%", "%%").replace("?", "%s")


def psycopg_module() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigError("sync.store: a PostgreSQL store needs psycopg, which this installation lacks: install"
                          " sla-bridge with its extra, pip install 'sla-bridge[postgresql]'") from None
    return psycopg


def _where(location: PostgresLocation) -> str:
    """The server as libpq names it in its messages: host and port."""
    try:
        parts = urlsplit(location.url)
        return f"{parts.hostname or 'the local socket'}:{parts.port or 5432}"
    except ValueError:  # several hosts, or an odd port: the URL says it
        return location.url


def failure(location: PostgresLocation, exc: Exception, opening: bool = False) -> DatabaseFailure:
    """A psycopg error said with the store's URL and what the operator should check."""
    text = scrub(" ".join(str(exc).split()))
    state = getattr(exc, "sqlstate", None) or ""
    if "password authentication failed" in text or state == "28P01":
        advice = ("check the user in sync.store and the password sync.store_password gives (its environment"
                  " variable or file)")
    elif "no password supplied" in text:
        advice = 'the server asks for a password: give it as store_password = { env = "VARIABLE" } in [sync]'
    elif "pg_hba.conf" in text or state == "28000":
        advice = "the server refuses this user from this host: check pg_hba.conf on the server"
    elif state == "3D000" or ("database" in text and "does not exist" in text):
        advice = "create the database, owned by the store's user (createdb -O USER DATABASE), or fix the URL"
    elif state == "42501":
        advice = ("the user may not create or change the store's tables: make it the owner of the database"
                  " (or of the schema its search_path names)")
    elif state == "53100":
        advice = ("the server's disk is full: free space and run again; nothing is lost, each ticket is"
                  " recorded right after its own writes")
    elif opening:
        advice = (f"check that PostgreSQL runs and accepts connections on {_where(location)} (listen_addresses,"
                  " a firewall) and the URL in sync.store")
    elif isinstance(exc, psycopg_module().OperationalError):  # the server went away, or was shut down
        advice = ("the connection to the server was lost: the next pass connects again; nothing is lost, each"
                  " ticket is recorded right after its own writes")
    else:
        advice = "check the server's log"
    doing = "cannot connect to the state store" if opening else "the state store failed"
    return DatabaseFailure(f"{location}: {doing} ({text}): {advice}")


def connector(location: PostgresLocation) -> Callable[[], "psycopg.Connection[Any]"]:
    """A function opening a new session on the store (autocommit), or raising its failure."""
    driver = psycopg_module()
    try:
        password = location.password.reveal() if location.password is not None else None
    except ConfigError as exc:  # unset, unreadable, empty: a configuration's fault (exit 2)
        raise ConfigError(f"sync.store_password: {exc}") from None
    try:
        given = driver.conninfo.conninfo_to_dict(location.url)
    except driver.Error as exc:
        raise ConfigError(f"sync.store: not a PostgreSQL URL libpq reads ({scrub(str(exc))}): expected"
                          " postgresql://user@host:5432/database") from None
    extra: dict[str, Any] = {"autocommit": True}
    if password is not None:
        extra["password"] = password
    if "connect_timeout" not in given:
        extra["connect_timeout"] = CONNECT_TIMEOUT
    if "application_name" not in given:
        extra["application_name"] = "sla-bridge"

    def connect() -> "psycopg.Connection[Any]":
        try:
            session: psycopg.Connection[Any] = driver.connect(location.url, **extra)
            session.execute("SET client_min_messages = warning")  # no NOTICE of IF NOT EXISTS
        except driver.Error as exc:
            raise failure(location, exc, opening=True) from None
        return session

    return connect


class PgSession:
    """One PostgreSQL session shared by a pass's workers, one statement at a time."""

    def __init__(self, location: PostgresLocation, connect: Callable[[], "psycopg.Connection[Any]"]) -> None:
        self.location = location
        self.lock = threading.RLock()
        self._connect = connect
        self._psycopg = psycopg_module()
        self._session: psycopg.Connection[Any] | None = connect()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        with self.lock:
            session = self._session
            if session is None or session.closed or session.broken:
                if session is not None:
                    session.close()
                self._session = None
                session = self._session = self._connect()
            try:
                cursor = session.execute(placeholders(sql), tuple(params)) if params else session.execute(sql)
                return Rows(cursor.fetchall() if cursor.description is not None else [])
            except self._psycopg.Error as exc:
                raise failure(self.location, exc) from None

    def close(self) -> None:
        with self.lock:
            if self._session is not None:
                self._session.close()
                self._session = None


class PgClaimer:
    """Claims held by a session of their own (see ``PostgresDialect.claimer``)."""

    def __init__(self, token: int, session: "psycopg.Connection[Any]", location: PostgresLocation) -> None:
        self.token = token
        self._session = session
        self._location = location
        self._lock = threading.Lock()

    def check(self) -> None:
        """The session, and so the claims, are still there (one round trip)."""
        with self._lock:
            try:
                self._session.execute("SELECT 1")
            except psycopg_module().Error as exc:
                raise failure(self._location, exc) from None


class PostgresDialect(Dialect):
    name = "postgresql"
    greatest = "GREATEST"
    same = "IS NOT DISTINCT FROM"
    queue = "work_queue"  # the schema's: shared by every replica
    queue_ddl = ()
    shared_queue = True
    skip_locked = " FOR UPDATE SKIP LOCKED"
    # The claimer's advisory lock is gone: its session ended (the process died, or lost
    # the server). pg_locks, unlike pg_stat_activity, shows every session's locks to any user.
    orphaned = ("NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'"
                f" AND l.classid = {CLAIMS} AND l.objsubid = 2 AND l.objid::bigint = q.claim AND l.granted)")

    def __init__(self, location: PostgresLocation, connect: Callable[[], "psycopg.Connection[Any]"]) -> None:
        self.location = location
        self._connect = connect

    def begin_migration(self, db: Connection) -> None:
        # Two processes opening a new store at once: the second waits on the lock, then
        # reads the version the first wrote.
        db.execute("BEGIN")
        db.execute(MIGRATION_LOCK)
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")

    def version(self, db: Connection) -> int:
        row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def set_version(self, db: Connection, number: int) -> None:
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))

    @contextmanager
    def claimer(self) -> Iterator[Claimer]:
        """A session of its own holding the advisory lock (CLAIMS, token) for as long as the
        workers claim tickets: the claims live while the session does."""
        session = self._connect()
        token = secrets.randbelow(2**31 - 1) + 1
        try:
            try:
                session.execute("SELECT pg_advisory_lock(%s, %s)", (CLAIMS, token))
            except psycopg_module().Error as exc:
                raise failure(self.location, exc) from None
            yield PgClaimer(token, session, self.location)
            try:  # at once: a closed session's locks go a moment later
                session.execute("SELECT pg_advisory_unlock(%s, %s)", (CLAIMS, token))
            except psycopg_module().Error:
                pass  # the session is gone, and its lock with it
        finally:
            session.close()  # and the lock with it: what was claimed and not done is free again

    @contextmanager
    def lock(self, adapter: str, where: str) -> Iterator[None]:
        """An advisory lock on a session held for the pass: a second process (or a second
        pass of this one) gets ``Busy``; a crash ends the session, and so the lock."""
        session = self._connect()
        try:
            try:
                row = session.execute(TRACKER_LOCK, (adapter,)).fetchone()
            except psycopg_module().Error as exc:
                raise failure(self.location, exc) from None
            if not row or row[0] is not True:
                raise Busy(f"another pass of {adapter!r} is running on {where}")
            try:
                yield
            finally:
                self._unlock(session, adapter)
        finally:
            session.close()

    def _unlock(self, session: "psycopg.Connection[Any]", adapter: str) -> None:
        """Released before the session is closed: the server ends a closed session a moment
        later, and the next pass (a `serve` poll right after) must not find it still held."""
        try:
            session.execute(TRACKER_UNLOCK, (adapter,))
        except psycopg_module().Error:
            pass  # the session is gone, and its lock with it


def open_postgres(location: PostgresLocation) -> tuple[PgSession, PostgresDialect]:
    """The store's session (connected: a wrong URL or password fails here) and its dialect."""
    connect = connector(location)
    return PgSession(location, connect), PostgresDialect(location, connect)
