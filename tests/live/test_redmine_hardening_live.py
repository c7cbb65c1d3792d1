"""Hardening against the real Redmine 5.0 (issue "Hardening"): the API key read from a file, and
a note far longer than any reminder, kept whole by Redmine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sla_bridge.actions import PostComment
from sla_bridge.adapters.redmine import RedmineAdapter
from sla_bridge.markers import markers_in

from .conftest import BOT_KEY, MINUTE, AdapterFactory, Redmine, live_config_text, parse

pytestmark = pytest.mark.live


def _sync(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SLA_BRIDGE_REDMINE_KEY"}
    return subprocess.run([sys.executable, "-m", "sla_bridge.cli", "sync", str(config), *extra],
                          capture_output=True, text=True, timeout=120, env=env)


def _config_with_key_file(redmine: Redmine, tmp_path: Path, key_text: str) -> Path:
    secret = tmp_path / "redmine.key"
    secret.write_text(key_text, encoding="utf-8")
    secret.chmod(0o600)
    text = live_config_text(redmine.env, tmp_path / "state.sqlite").replace(
        'api_key = { env = "SLA_BRIDGE_REDMINE_KEY" }', f'api_key = {{ file = "{secret}" }}')
    config = tmp_path / "sla-bridge.toml"
    config.write_text(text, encoding="utf-8")
    return config


def test_an_api_key_file_ending_with_a_newline_works_and_one_with_a_newline_inside_is_refused(
        redmine: Redmine, tmp_path: Path) -> None:
    key = redmine.env[BOT_KEY]
    created = redmine.create_issue("Key from a file")
    config = _config_with_key_file(redmine, tmp_path, key + "\n")  # as `echo KEY > file` writes it
    at = parse(created["created_on"]) + MINUTE
    result = _sync(config, "--json", "--at", at.isoformat())
    assert result.returncode == 0, result.stderr + result.stdout
    [summary] = json.loads(result.stdout)
    assert summary["errors"] == [] and summary["applied"] == {"due_date": 1, "labels": 1}
    assert redmine.custom(redmine.issue(created["id"]), "REDMINE_LABELS_FIELD_ID") == ["sla-bloquante"]

    halves = (key[:20], key[20:])
    (tmp_path / "broken").mkdir()
    broken = _config_with_key_file(redmine, tmp_path / "broken", f"{halves[0]}\n{halves[1]}\n")
    before = redmine.issue(created["id"])["updated_on"]
    result = _sync(broken, "--json", "--at", (at + MINUTE).isoformat())
    assert result.returncode == 2, result.stderr + result.stdout
    assert "holds a line break, a control or a non-ASCII character inside the value" in result.stderr
    output = result.stdout + result.stderr
    assert key not in output and halves[0] not in output and halves[1] not in output
    assert redmine.issue(created["id"])["updated_on"] == before  # refused at start: nothing sent


def test_redmine_keeps_a_note_of_a_million_characters_whole(redmine: Redmine, live_adapter: AdapterFactory) -> None:
    """Redmine 5.0 validates no length on a journal's notes (``Journal`` has no such validation;
    the column is ``text``): a note far longer than any reminder is stored whole, its marker
    last. So ``max_comment_length`` stays None: there is nothing to cut to."""
    assert RedmineAdapter.max_comment_length is None
    created = redmine.create_issue("Long note")
    adapter = live_adapter()
    marker = "[sla-bridge:redmine:long/reminder/1]"
    body = "é" * 1_000_000 + "\n\n" + marker  # 2 MB of UTF-8
    adapter.post_comment(adapter.fetch(str(created["id"])), PostComment("long", body, True, "reminder"))
    [note] = [c for c in adapter.fetch(str(created["id"])).events if getattr(c, "body", None)]
    assert note.body == body and note.own  # type: ignore[union-attr]
    assert markers_in(note.body) == {marker[len("[sla-bridge:"):-1]}  # type: ignore[union-attr]


def test_issues_a_page_per_second_are_paged_through(redmine: Redmine, live_adapter: AdapterFactory) -> None:
    """With one issue per page and one issue per second, each page at a new bound starts with the
    previous second's issue again: Redmine's own slack, not a stuck query."""
    ids = []
    for i in range(4):
        ids.append(str(redmine.create_issue(f"One per second {i}")["id"]))
        time.sleep(1.05)
    rows = [r.id for r in live_adapter(page_size=1).changed_since(None)]
    assert [i for i in rows if i in ids] == ids


def test_an_issue_moved_to_a_project_outside_the_contract_is_left_alone(redmine: Redmine,
                                                                       live_adapter: AdapterFactory) -> None:
    """Read by id (a due timed change, a webhook), an issue moved out of ``options.projects`` is not written to."""
    from sla_bridge.adapters.base import OutOfScope

    issue_id = str(redmine.create_issue("Badge reader offline")["id"])
    assert live_adapter().fetch(issue_id).project == redmine.env["REDMINE_PROJECT"]
    # An administrator opens a second, public project and moves the issue there.
    other = redmine.call("POST", "/projects.json", key="REDMINE_API_KEY", json={"project": {
        "name": "Internal IT", "identifier": "internal-it", "is_public": True,
        "tracker_ids": [int(redmine.env["REDMINE_TRACKER_BUG_ID"])]}})["project"]
    redmine.call("PUT", f"/issues/{issue_id}.json", key="REDMINE_API_KEY",
                 json={"issue": {"project_id": other["id"]}})
    assert redmine.call("GET", f"/issues/{issue_id}.json", key=BOT_KEY)["issue"]["project"]["id"] == other["id"]
    with pytest.raises(OutOfScope, match=f"issue {issue_id} is in project 'Internal IT', which is not in"
                                             " options.projects: left alone"):
        live_adapter().fetch(issue_id)
    # The same issue is under contract for a configuration that lists both projects.
    assert live_adapter(projects=[redmine.env["REDMINE_PROJECT"], "internal-it"]).fetch(issue_id).project \
        == "internal-it"
