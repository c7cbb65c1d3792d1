"""A PostgreSQL store's own matters: its URL and password, its errors, a lost session, the HTTP face's reads.

The store's logic runs on both backends in test_store.py; a sync on PostgreSQL is in
test_store_postgres_sync.py. Tests that need a server take ``postgres`` (a schema of
their own; skipped without a PostgreSQL, failed in CI).
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import PG_PASSWORD_ENV, example_mapping
from sla_bridge.actions import Applied
from sla_bridge.cli import cli
from sla_bridge.config import config_from_mapping
from sla_bridge.errors import ConfigError
from sla_bridge.identity import Person
from sla_bridge.model import Ticket
from sla_bridge.secrets import SecretRef
from sla_bridge.store import MIGRATIONS, DatabaseFailure, PostgresLocation, Store, StoreError
from sla_bridge.web.storeview import StoreUnavailable, StoreView

ROOT = Path(__file__).resolve().parent.parent
T = datetime.fromisoformat
ALICE = Person(id="3", login="alice", name="Alice Martin")


def with_password(location: PostgresLocation, env: str) -> PostgresLocation:
    return PostgresLocation(location.url, SecretRef(env=env))


def elsewhere(location: PostgresLocation, **parts: str) -> PostgresLocation:
    """The same URL with another port or database."""
    url = location.url
    if "port" in parts:
        url = re.sub(r":\d+/", f":{parts['port']}/", url)
    if "database" in parts:
        url = re.sub(r"/[^/?]+\?", f"/{parts['database']}?", url)
    return PostgresLocation(url, location.password)


# --- the URL and its password -----------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["postgresql://sla:s3cret-pw@db.example:5432/sla",
                                 "postgres://sla@db.example/sla?sslmode=require&password=s3cret-pw",
                                 "postgresql://sla:@db.example/sla"])
def test_a_url_with_a_password_is_refused_naming_the_key_not_the_password(url: str) -> None:
    raw = example_mapping()
    raw["sync"]["store"] = url
    with pytest.raises(ConfigError) as caught:
        config_from_mapping(raw)
    assert "sync.store: the URL holds a password" in str(caught.value)
    assert "store_password" in str(caught.value) and "s3cret-pw" not in str(caught.value)
    with pytest.raises(ValueError, match="holds a password"):
        PostgresLocation(url)


def test_a_url_and_its_password_reference_make_a_postgresql_store(tmp_path: Path) -> None:
    raw = example_mapping()
    raw["sync"].update(store="postgresql://sla@db.example:5432/sla?sslmode=require",
                       store_password={"file": "pg-password"})
    cfg = config_from_mapping(raw, tmp_path / "sla.toml")
    where = cfg.store_path
    assert isinstance(where, PostgresLocation) and where.exists()
    assert str(where) == "postgresql://sla@db.example:5432/sla?sslmode=require"
    assert where.password is not None and where.password.file is not None


def test_a_file_store_has_no_password_and_stays_the_default(tmp_path: Path) -> None:
    raw = example_mapping()
    raw["sync"]["store_password"] = {"env": "X"}
    with pytest.raises(ConfigError, match="sync: store_password is for a PostgreSQL store"):
        config_from_mapping(raw)
    raw = example_mapping()
    raw["sync"].pop("store", None)
    assert str(config_from_mapping(raw).store_path).endswith("sla-bridge.sqlite")


def test_without_psycopg_a_postgresql_store_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg fails
    with pytest.raises(ConfigError, match=r"needs psycopg.*pip install 'sla-bridge\[postgresql\]'"):
        Store("postgresql://sla@127.0.0.1:1/sla")


# --- errors say the store and what to check ----------------------------------------------------------------------

def test_a_wrong_password_names_the_store_and_the_password_setting(postgres: PostgresLocation,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_TEST_WRONG_PG_PASSWORD", "not-the-password-42")
    with pytest.raises(StoreError) as caught:
        Store(with_password(postgres, "SLA_TEST_WRONG_PG_PASSWORD"))
    text = str(caught.value)
    assert text.startswith(f"{postgres.url}: cannot connect to the state store (")
    assert "password authentication failed" in text and "sync.store_password" in text
    assert "not-the-password-42" not in text


def test_no_password_where_the_server_wants_one(postgres: PostgresLocation) -> None:
    with pytest.raises(StoreError, match="asks for a password: give it as store_password"):
        Store(PostgresLocation(postgres.url))


def test_an_unset_password_variable_is_a_configuration_error(postgres: PostgresLocation) -> None:
    with pytest.raises(ConfigError, match="sync.store_password: secret: environment variable SLA_TEST_UNSET_PG"):
        Store(with_password(postgres, "SLA_TEST_UNSET_PG"))


def test_no_server_answering_says_where_it_was_looked_for(postgres: PostgresLocation) -> None:
    with pytest.raises(StoreError) as caught:
        Store(elsewhere(postgres, port="1"))
    text = str(caught.value)
    assert text.startswith("postgresql://sla_bridge_test@127.0.0.1:1/")
    assert "check that PostgreSQL runs and accepts connections on 127.0.0.1:1" in text


def test_a_missing_database_says_to_create_it(postgres: PostgresLocation) -> None:
    with pytest.raises(StoreError, match=r"does not exist.*create the database, owned by the store's user"):
        Store(elsewhere(postgres, database="no_such_database"))


def test_a_lost_session_ends_the_statement_then_the_store_connects_again(postgres: PostgresLocation,
                                                                        postgres_server: dict[str, str]) -> None:
    """The server restarted, or a network cut: that statement fails as the store failing (the pass ends),
    and the next one runs on a new session: ``serve`` outlives a restart of the server."""
    import psycopg

    store = Store(postgres)
    store.save_ticket("rm", Ticket("rm", "1", "t", ALICE, T("2025-06-02T09:00:00+02:00"), "New", "Urgent"),
                      Applied(), {}, None)
    pid = store._db.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(postgres_server["SLA_BRIDGE_PG_URL"], password=postgres_server["SLA_BRIDGE_PG_PASSWORD"],
                         autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(DatabaseFailure) as caught:
        store.ticket("rm", "1")
    assert isinstance(caught.value, sqlite3.Error), "ends a pass as any failure of the store does"
    assert str(caught.value).startswith(f"{postgres.url}: the state store failed (")
    assert "the connection to the server was lost: the next pass connects again" in str(caught.value)
    assert store.ticket("rm", "1") is not None, "a new session"
    store.close()


def test_the_store_is_named_by_its_url_everywhere(postgres: PostgresLocation) -> None:
    store = Store(postgres)
    assert store.backend == "postgresql" and str(store.path) == postgres.url
    assert store.schema_version == len(MIGRATIONS)
    store.close()


# --- the HTTP face reads either backend ---------------------------------------------------------------------------

def fill(store: Store) -> None:
    clocks = {"acknowledge": {"state": "breached", "deadline": "2025-03-03T13:00:00+01:00"},
              "workaround": {"state": "at_risk", "deadline": "2025-04-02T10:00:00+02:00"},
              "resolution": {"state": "running", "deadline": None}}
    for i, title in enumerate(["Export [urgent] broken", "Login 'fails' 100%", "Calm"]):
        ticket = Ticket("rm", str(i), title, ALICE, T("2025-03-03T10:00:00+01:00"), "in_progress", "bloquante",
                        updated=T("2025-03-03T10:00:00+01:00"))
        evaluation = {"severity": "bloquante", "status": "in_progress",
                      "clocks": clocks if i < 2 else {"resolution": {"state": "running"}}}
        store.save_ticket("rm", ticket, Applied(date(2025, 3, 4)), evaluation, T(f"2025-04-0{i + 1}T09:00:00+02:00"))
    store.save_ticket("jira", Ticket("jira", "S-1", "x", ALICE, T("2025-03-03T10:00:00+01:00"), "new", None),
                      Applied(), {}, None)
    store.defer("jira", "S-1", T("2025-03-03T10:00:00+01:00"), "403")
    store.sync_started("rm", T("2025-03-03T10:00:00+01:00"))
    store.sync_finished("rm", T("2025-03-03T10:01:00+01:00"), None,
                        {"complete": True, "errors": ["one"], "applied": {"labels": 2}, "tickets_read": 3})


def view_answers(view: StoreView) -> dict[str, Any]:
    view.check()
    return {
        "passes": view.passes(), "clocks": sorted(view.clock_states()), "counts": view.counts(),
        "earliest": view.earliest_changes(),
        "flagged": [(f.ticket_id, f.title, f.deadline) for f in view.flagged("rm")],
        "upcoming": [t.id for t in view.upcoming("rm", 2)], "retries": view.retries("jira"),
        "snapshot": view.snapshot("rm", "1"), "none": view.snapshot("rm", "9"),
    }


def test_the_status_page_reads_the_same_from_both_backends(postgres: PostgresLocation, tmp_path: Path) -> None:
    answers = []
    for where in (tmp_path / "s.sqlite", postgres):
        store = Store(where)
        fill(store)
        store.close()
        answers.append(view_answers(StoreView(where)))
    sqlite_answers, postgres_answers = answers
    assert postgres_answers == sqlite_answers
    assert postgres_answers["clocks"] == [("rm", "acknowledge", "breached", 2), ("rm", "resolution", "running", 3),
                                          ("rm", "workaround", "at_risk", 2)]
    assert postgres_answers["flagged"][1][1] == "Login 'fails' 100%"
    assert postgres_answers["counts"] == {"rm": (3, 0), "jira": (1, 1)}


def test_the_status_page_only_reads_a_postgresql_store(postgres: PostgresLocation) -> None:
    view = StoreView(postgres)
    with pytest.raises(StoreUnavailable, match="no store yet"):
        view.check()
    store = Store(postgres)
    with pytest.raises(StoreUnavailable, match="read-only"), view._db() as db:
        db.execute("DELETE FROM tickets")
    store._dialect.set_version(store._db, 99)
    with pytest.raises(StoreUnavailable, match=f"store schema version 99, expected {len(MIGRATIONS)}"):
        view.check()
    store.close()


def test_the_status_page_says_a_postgresql_store_is_unreachable(postgres: PostgresLocation) -> None:
    with pytest.raises(StoreUnavailable, match="cannot connect to the state store"):
        StoreView(elsewhere(postgres, port="1")).check()


# --- the command line ---------------------------------------------------------------------------------------------

def config_file(tmp_path: Path, location: PostgresLocation, password_env: str = PG_PASSWORD_ENV) -> Path:
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^store = .*$', f'store = "{location.url}"\nstore_password = {{ env = "{password_env}" }}',
                  example, count=1)
    path = tmp_path / "sla.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_status_on_a_postgresql_store_and_its_exit_codes(postgres: PostgresLocation, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(postgres)
    fill(store)
    store.close()
    result = CliRunner().invoke(cli, ["status", str(config_file(tmp_path, postgres)), "--json"])
    assert result.exit_code == 1, result.output  # the last pass of rm had errors: a monitoring check fails
    report = json.loads(result.stdout)
    assert report["store"] == postgres.url and report["tickets"] == 4
    monkeypatch.setenv("SLA_TEST_WRONG_PG_PASSWORD", "wrong-password-1234")
    wrong = CliRunner().invoke(cli, ["status", str(config_file(tmp_path, postgres, "SLA_TEST_WRONG_PG_PASSWORD"))])
    assert wrong.exit_code == 1 and "password authentication failed" in wrong.stderr
    assert postgres.url in wrong.stderr and "wrong-password-1234" not in wrong.output + wrong.stderr
    unset = CliRunner().invoke(cli, ["status", str(config_file(tmp_path, postgres, "SLA_TEST_UNSET_PG"))])
    assert unset.exit_code == 2 and "sync.store_password" in unset.stderr


def test_a_password_in_the_url_stops_the_command_line_with_exit_code_2(tmp_path: Path) -> None:
    path = config_file(tmp_path, PostgresLocation("postgresql://sla@db.example/sla"))
    path.write_text(path.read_text(encoding="utf-8").replace("sla@db.example", "sla:hunter2-pw@db.example"),
                    encoding="utf-8")
    result = CliRunner().invoke(cli, ["status", str(path)])
    assert result.exit_code == 2 and "sync.store: the URL holds a password" in result.stderr
    assert "hunter2-pw" not in result.stderr + result.output
