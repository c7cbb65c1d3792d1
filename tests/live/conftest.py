"""A real Redmine on loopback for the end-to-end tests.

`scripts/redmine-live.sh` installs and starts it (``.ci/run`` does so in CI). These
tests skip, saying how to start it, when no Redmine answers — except in CI, where a
missing Redmine fails the run.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from sla_bridge.adapters.redmine import RedmineAdapter
from sla_bridge.config import Config, TrackerSection, load_config
from sla_bridge.demo import builtin_config

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
SCRIPT = ROOT / "scripts" / "redmine-live.sh"
ENV_FILE = Path(os.environ.get("SLA_BRIDGE_REDMINE_ENV", "/tmp/sla-bridge-redmine/env.json"))
HOW = "start it with: bash scripts/redmine-live.sh install && bash scripts/redmine-live.sh start"


def _answering(env: dict[str, str]) -> bool:
    try:
        return requests.get(f"{env['REDMINE_URL']}/issue_statuses.json", timeout=5,
                            headers={"X-Redmine-API-Key": env["REDMINE_API_KEY"]}).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def redmine_env() -> dict[str, str]:
    env: dict[str, str] | None = json.loads(ENV_FILE.read_text(encoding="utf-8")) if ENV_FILE.exists() else None
    if env is None or not _answering(env):
        if os.environ.get("CI"):
            pytest.fail(f"no live Redmine answers (env file {ENV_FILE}); CI must start one: {HOW}")
        pytest.skip(f"no live Redmine on this machine; {HOW}")
    return env


@dataclass
class Redmine:
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.env["REDMINE_URL"]

    def call(self, method: str, path: str, key: str = "REDMINE_AGENT_KEY", **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.url}{path}", timeout=30,
                                    headers={"X-Redmine-API-Key": self.env[key]}, **kwargs)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text[:300]}"
        return response.json() if response.content.strip() else None

    def create_issue(self, subject: str, priority: str = "URGENT", key: str = "REDMINE_CUSTOMER_KEY",
                     tracker: str = "BUG", **fields: Any) -> dict[str, Any]:
        body = {"issue": {"project_id": self.env["REDMINE_PROJECT_ID"], "subject": subject,
                          "tracker_id": self.env[f"REDMINE_TRACKER_{tracker}_ID"],
                          "priority_id": self.env[f"REDMINE_PRIORITY_{priority}_ID"], **fields}}
        issue: dict[str, Any] = self.call("POST", "/issues.json", key=key, json=body)["issue"]
        return issue

    def user_key(self, login: str) -> str:
        """The env name of a set-up user's API key, e.g. ``REDMINE_USER_SLA_BOT_KEY``."""
        return f"REDMINE_USER_{re.sub(r'[^A-Z0-9]+', '_', login.upper())}_KEY"

    def issue(self, issue_id: int) -> dict[str, Any]:
        issue: dict[str, Any] = self.call("GET", f"/issues/{issue_id}.json", params={"include": "journals"})["issue"]
        return issue

    def custom(self, issue: dict[str, Any], field: str) -> Any:
        wanted = int(self.env[field])
        return next((f.get("value") for f in issue.get("custom_fields", []) if f["id"] == wanted), None)

    def set_status(self, issue_id: int, status: str, notes: str = "", key: str = "REDMINE_AGENT_KEY") -> None:
        self.call("PUT", f"/issues/{issue_id}.json", key=key,
                  json={"issue": {"status_id": self.env[f"REDMINE_STATUS_{status}_ID"], "notes": notes}})

    def note(self, issue_id: int, text: str, key: str = "REDMINE_CUSTOMER_KEY") -> None:
        self.call("PUT", f"/issues/{issue_id}.json", key=key, json={"issue": {"notes": text}})


@pytest.fixture()
def redmine(redmine_env: dict[str, str]) -> Iterator[Redmine]:
    # One live test at a time on this machine: two pytest runs sharing the server would
    # restore the database under each other's feet. Then a pristine Redmine for every
    # test (SQLite online backup, ~0.5 s).
    with open(ENV_FILE.parent / "live-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["bash", str(SCRIPT), "restore"], check=True, capture_output=True, timeout=120)
        yield Redmine(redmine_env)


# sla-bridge's API user in the live tests: "sla-bot", not an administrator, with the role
# "Support" whose workflow has no direct Feedback -> Closed (admins bypass workflows).
BOT_KEY = "REDMINE_USER_SLA_BOT_KEY"
# Support staff by identity: a login, a group (Jo Dupont is in it), a project role (Marc
# Lefebvre and sla-bot have it). Display names are never identities.
AGENTS = ["login:agent", "group:Support Team", "role:Support"]


def live_config_text(env: dict[str, str], store: Path) -> str:
    from fake_redmine import redmine_section  # the same section as for the fake Redmine

    example = re.sub(r'(?m)^store = .*$', f'store = "{store}"',
                     (ROOT / "config.example.toml").read_text(encoding="utf-8"), count=1)
    return example + redmine_section(env["REDMINE_URL"], "SLA_BRIDGE_REDMINE_KEY", project=env["REDMINE_PROJECT"],
                                     agents=AGENTS, labels_field=env["REDMINE_LABELS_FIELD_ID"],
                                     deadline_field=env["REDMINE_DEADLINE_FIELD_ID"])


@dataclass
class Bridge:
    """Runs the real command line against the live Redmine."""

    config_path: Path
    env: dict[str, str]

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    def sync(self, at: datetime, *extra: str, expect: int = 0) -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-m", "sla_bridge.cli", "sync", str(self.config_path), "--json",
             "--at", at.isoformat(), *extra],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "SLA_BRIDGE_REDMINE_KEY": self.env[BOT_KEY]})
        assert result.returncode == expect, result.stderr + result.stdout
        summary: dict[str, Any] = json.loads(result.stdout)[0]
        return summary


@pytest.fixture()
def bridge(redmine: Redmine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bridge:
    path = tmp_path / "sla-bridge.toml"
    path.write_text(live_config_text(redmine.env, tmp_path / "state.sqlite"), encoding="utf-8")
    tomllib.loads(path.read_text(encoding="utf-8"))
    monkeypatch.setenv("SLA_BRIDGE_REDMINE_KEY", redmine.env[BOT_KEY])
    return Bridge(path, redmine.env)


AdapterFactory = Callable[..., RedmineAdapter]


@pytest.fixture()
def live_adapter(redmine: Redmine, monkeypatch: pytest.MonkeyPatch) -> AdapterFactory:
    """A Redmine adapter on the live server: ``live_adapter(key=..., agents=..., fields=..., **options)``."""
    def make(key: str = BOT_KEY, agents: list[str] | None = None, fields: dict[str, str | int] | None = None,
             visibility: str = "public", **options: Any) -> RedmineAdapter:
        monkeypatch.setenv("SLA_BRIDGE_LIVE_KEY", redmine.env[key])
        section = TrackerSection.model_validate({
            "adapter": "redmine", "closing_status": "Closed", "comment_visibility": visibility,
            "agents": agents if agents is not None else AGENTS, "fields": fields or {},
            "severities": {"Immediate": "bloquante", "Urgent": "bloquante", "High": "majeure", "Normal": "mineure",
                           "Low": "mineure"},
            "statuses": {"new": ["New"], "in_progress": ["In Progress"], "waiting_for_customer": ["Feedback"],
                         "resolved": ["Resolved"], "closed": ["Closed", "Rejected"]},
            "options": {"url": redmine.url, "api_key": {"env": "SLA_BRIDGE_LIVE_KEY"},
                        "projects": [redmine.env["REDMINE_PROJECT"]],
                        "labels_field": int(redmine.env["REDMINE_LABELS_FIELD_ID"]),
                        "deadline_field": int(redmine.env["REDMINE_DEADLINE_FIELD_ID"]), **options}})
        return RedmineAdapter("redmine", section, builtin_config())
    return make


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


MINUTE = timedelta(minutes=1)
