"""``sla-bridge copy-store``: a store's lasting state into an empty store, SQLite to either backend
and back, through the real command line, against the fake Redmine over HTTP.

The PostgreSQL cases need the test server (``conftest.postgres``): skipped without it, failed in CI.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from conftest import PG_PASSWORD_ENV
from sla_bridge.cli import cli
from sla_bridge.store import PostgresLocation, Store
from sla_bridge.store.copy import LASTING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from fake_redmine import ServerThread  # noqa: E402
from test_crash import KEY, KEY_ENV, config_text  # noqa: E402

UTC = timezone.utc
CREATED = datetime(2025, 6, 2, 7, 30, tzinfo=UTC)
AT = datetime(2025, 6, 3, 9, 0, tzinfo=UTC)  # Tuesday 11:00 in Paris: the first reminders are due


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def with_store(text: str, where: Path | PostgresLocation) -> str:
    line = (f'store = "{where.url}"\nstore_password = {{ env = "{PG_PASSWORD_ENV}" }}'
            if isinstance(where, PostgresLocation) else f'store = "{where}"')
    return re.sub(r'(?m)^store = .*$', lambda _: line, text, count=1)


def moved(source: Path, where: Path | PostgresLocation, name: str = "new.toml") -> Path:
    """The configuration `source` with its store moved to `where`, written beside it."""
    path = source.with_name(name)
    path.write_text(with_store(source.read_text(encoding="utf-8"), where), encoding="utf-8")
    return path


def rows(where: Path | PostgresLocation) -> dict[str, list[tuple[Any, ...]]]:
    store = Store(where)
    try:
        return {table: sorted(tuple(str(v) if v is not None else None for v in row)
                              for row in store._db.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall())
                for table, cols in LASTING.items()}
    finally:
        store.close()


@pytest.fixture()
def synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Any]]:
    """A SQLite store after a real sync of 12 issues (reminders posted, due dates and labels
    written), and the fake Redmine it synced, still serving."""
    monkeypatch.setenv(KEY_ENV, KEY)
    with ServerThread(KEY, now=CREATED, server_clock="manual") as server:
        server.app.acknowledged(12, CREATED)
        source = tmp_path / "old.toml"
        source.write_text(with_store(config_text(server.url, workers=2), tmp_path / "old.sqlite"), encoding="utf-8")
        server.app.set_now(AT)
        code, out, err = run("sync", str(source), "--at", AT.isoformat(), "--json")
        assert code == 0, out + err
        assert sum(json.loads(out)[0]["applied"].values()) > 12
        yield source, server


def test_a_synced_store_carries_on_from_its_copy(synced: tuple[Path, Any], store_location: Path | PostgresLocation,
                                                 tmp_path: Path) -> None:
    source, server = synced
    destination = moved(source, store_location)
    code, out, err = run("copy-store", str(source), str(destination), "--json")
    assert code == 0, out + err
    copied = json.loads(out)
    assert copied["rows"]["tickets"] == 12 and copied["rows"]["cursors"] == 1 and copied["rows"]["journal"] >= 6
    assert copied["trackers_not_in_destination"] == []
    before = rows(tmp_path / "old.sqlite")
    assert rows(store_location) == before and all(before[t] for t in ("cursors", "tickets", "journal"))
    # The next pass on the new store knows everything the old one did: nothing to write,
    # no reminder posted again, the cursor where the old store left it.
    writes = server.app.stats()["requests"].get("PUT issue", 0)
    code, out, err = run("sync", str(destination), "--at", (AT + timedelta(minutes=5)).isoformat(), "--json")
    assert code == 0, out + err
    summary = json.loads(out)[0]
    assert summary["complete"] and not summary["applied"] and not summary["errors"] and not summary["onboarding"]
    assert server.app.stats()["requests"].get("PUT issue", 0) == writes
    # And back again, into a SQLite file: the same rows as the first store.
    back = moved(source, tmp_path / "back.sqlite", "back.toml")
    assert run("copy-store", str(destination), str(back))[0] == 0
    after = rows(tmp_path / "back.sqlite")
    assert after["tickets"] == rows(store_location)["tickets"] and after["journal"] == before["journal"]


def test_a_store_with_state_is_never_copied_over(synced: tuple[Path, Any], store_location: Path | PostgresLocation,
                                                  tmp_path: Path) -> None:
    source, _ = synced
    destination = moved(source, store_location)
    assert run("copy-store", str(source), str(destination))[0] == 0
    held = rows(store_location)
    code, out, err = run("copy-store", str(source), str(destination))
    assert code == 2 and "the destination store is not empty (rows: cursors 1, tickets 12, journal" in err
    assert rows(store_location) == held
    code, _, err = run("copy-store", str(source), str(source))
    assert code == 2 and "the source and the destination are the same store" in err


def test_a_store_in_use_is_not_copied(synced: tuple[Path, Any], tmp_path: Path) -> None:
    source, _ = synced
    store = Store(tmp_path / "old.sqlite")
    try:
        store.heartbeat("host:42:abc", datetime.now(UTC), timedelta(seconds=30))  # a `serve` is running
    finally:
        store.close()
    destination = moved(source, tmp_path / "new.sqlite")
    code, _, err = run("copy-store", str(source), str(destination))
    assert code == 1 and "a service is running on this store (host:42:abc): stop it first" in err
    assert not any(rows(tmp_path / "new.sqlite").values())


def test_a_copy_that_fails_leaves_the_destination_empty(synced: tuple[Path, Any],
                                                        store_location: Path | PostgresLocation,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sla_bridge.store import copy as copying

    source, _ = synced
    real = copying._copy_table

    def fail_at_the_journal(source_store: Store, destination_store: Store, table: str, columns: Any) -> int:
        if table == "journal":
            raise OSError("the disk is gone")
        return real(source_store, destination_store, table, columns)

    monkeypatch.setattr(copying, "_copy_table", fail_at_the_journal)
    destination = moved(source, store_location)
    with pytest.raises(OSError):
        CliRunner().invoke(cli, ["copy-store", str(source), str(destination)], catch_exceptions=False)
    assert not any(rows(store_location).values())  # the tickets copied before were rolled back


def test_the_copy_pages_through_tables_larger_than_a_batch(store_location: Path | PostgresLocation, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyset paging on two-column keys, two adapters interleaved, read from either backend."""
    from sla_bridge.store import copy as copying

    monkeypatch.setattr(copying, "BATCH", 3)
    source, destination = Store(store_location), Store(tmp_path / "b.sqlite")
    try:
        for n in range(10):
            for adapter in ("jira", "rm"):
                source.journal(f"{adapter}/k/{n:02d}", adapter, str(n % 4), "comment", datetime(2025, 6, 2, tzinfo=UTC))
                source.learn(adapter, f"fact-{n}", "x" * n)
                source.defer(adapter, str(n), datetime(2025, 6, 2, tzinfo=UTC), "403")
        copied = copying.copy_store(source, destination, datetime.now(UTC))
        assert copied.rows == {"cursors": 0, "tickets": 0, "journal": 20, "retries": 20, "facts": 20}
    finally:
        source.close()
        destination.close()
    assert rows(store_location) == rows(tmp_path / "b.sqlite")


def test_the_source_is_read_as_of_one_moment(synced: tuple[Path, Any], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A row written to the source during the copy is in neither the counts nor the copy."""
    from sla_bridge.store import copy as copying

    source, _ = synced
    before = rows(tmp_path / "old.sqlite")
    real = copying._copy_table

    def write_meanwhile(source_store: Store, destination_store: Store, table: str, columns: Any) -> int:
        if table == "journal":
            other = Store(tmp_path / "old.sqlite")  # another process's connection, say
            try:
                other.journal("redmine/late", "redmine", "1", "comment", datetime.now(UTC))
            finally:
                other.close()
        return real(source_store, destination_store, table, columns)

    monkeypatch.setattr(copying, "_copy_table", write_meanwhile)
    destination = moved(source, tmp_path / "new.sqlite")
    assert run("copy-store", str(source), str(destination))[0] == 0
    assert rows(tmp_path / "new.sqlite") == before


def test_a_pass_running_on_the_source_stops_the_copy(synced: tuple[Path, Any], tmp_path: Path) -> None:
    from test_store import hold_in_another_process

    source, _ = synced
    destination = moved(source, tmp_path / "new.sqlite")
    holder = hold_in_another_process(tmp_path / "old.sqlite", "redmine")  # a cron `sync` of the tracker
    try:
        code, _, err = run("copy-store", str(source), str(destination))
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert code == 1 and "a pass of 'redmine' is running: copy once it is over" in err
    assert not any(rows(tmp_path / "new.sqlite").values())
    assert run("copy-store", str(source), str(destination))[0] == 0


@pytest.mark.parametrize("made", [False, True], ids=["missing", "empty"])
def test_a_missing_or_empty_source_is_a_usage_error(made: bool, tmp_path: Path) -> None:
    if made:
        Store(tmp_path / "old.sqlite").close()  # made by a command run against the wrong file, say
    source = tmp_path / "old.toml"
    source.write_text(with_store(config_text("http://127.0.0.1:9", workers=1), tmp_path / "old.sqlite"),
                      encoding="utf-8")
    destination = moved(source, tmp_path / "new.sqlite")
    code, _, err = run("copy-store", str(source), str(destination))
    assert code == 2
    if made:
        assert "old.sqlite: the store holds no state" in err and "is it the right store?" in err
        assert not any(rows(tmp_path / "new.sqlite").values())
    else:
        assert "old.sqlite does not exist: nothing to copy" in err and not (tmp_path / "new.sqlite").exists()


def test_a_damaged_source_is_said_not_a_traceback(synced: tuple[Path, Any], tmp_path: Path) -> None:
    source, _ = synced
    data = (tmp_path / "old.sqlite").read_bytes()
    (tmp_path / "old.sqlite").write_bytes(data[:4096] + b"\x00garbage" * 2000 + data[4096 + 18000:])
    destination = moved(source, tmp_path / "new.sqlite")
    code, out, err = run("copy-store", str(source), str(destination))
    assert code == 1 and "Traceback" not in out + err
    assert "old.sqlite" in err and ("damaged" in err or "malformed" in err or "not a database" in err)
