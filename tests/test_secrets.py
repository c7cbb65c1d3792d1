"""Secrets stay secret: read safely, refused when unusable, masked in every text that leaves."""

from __future__ import annotations

import base64
import logging
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sla_bridge.config import config_from_mapping
from sla_bridge.errors import ConfigError
from sla_bridge.secrets import SECRET_FILE_LIMIT, MASK, ScrubbedTexts, SecretRef, install_log_scrubbing, register, scrub

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "tok-3f9a1c77e2b54d0c"


def test_a_trailing_newline_is_stripped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLA_T_ENV", TOKEN + "\n")
    assert SecretRef(env="SLA_T_ENV").reveal() == TOKEN
    secret = tmp_path / "token"
    secret.write_text(f"  {TOKEN}\r\n", encoding="utf-8")
    assert SecretRef(file=secret).reveal() == TOKEN


@pytest.mark.parametrize("content, message", [
    pytest.param(b"", "is empty", id="empty-file"),
    pytest.param(b"\n\n", "is empty", id="blank-file"),
    pytest.param(b"abc\ndef", "line break", id="newline-inside"),
    pytest.param(b"\xff\xfe token", "not UTF-8", id="not-utf8"),
    pytest.param(b"x" * (SECRET_FILE_LIMIT + 1), "larger than 64 KiB", id="too-large"),
])
def test_unusable_secret_files_are_config_errors(tmp_path: Path, content: bytes, message: str) -> None:
    secret = tmp_path / "token"
    secret.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as caught:
        SecretRef(file=secret).reveal()
    assert caught.value.exit_code == 2
    assert "def" not in str(caught.value) or "line break" in str(caught.value)


def test_dev_zero_is_refused_without_reading_it_all() -> None:
    with pytest.raises(ConfigError, match="larger than"):
        SecretRef(file=Path("/dev/zero")).reveal()


def test_an_empty_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_T_EMPTY", "  ")
    with pytest.raises(ConfigError, match="environment variable SLA_T_EMPTY is empty"):
        SecretRef(env="SLA_T_EMPTY").reveal()


def _example_with_redmine(options: dict[str, Any]) -> dict[str, Any]:
    raw = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    raw["trackers"] = {"rm": {"adapter": "redmine", "agents": ["role:Support"], "closing_status": "Closed",
                              "statuses": {"new": ["New"], "closed": ["Closed"]},
                              "options": {"url": "http://127.0.0.1:9", "labels_field": 1, **options}}}
    return raw


def test_a_token_written_in_clear_is_refused_without_being_echoed(tmp_path: Path) -> None:
    from sla_bridge.adapters.redmine import RedmineAdapter
    raw = _example_with_redmine({"api_key": TOKEN})
    config = config_from_mapping(raw, tmp_path / "sla.toml")
    with pytest.raises(ConfigError) as caught:
        RedmineAdapter("rm", config.file.trackers["rm"], config)
    assert "never written in the configuration" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_a_relative_secret_file_is_relative_to_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sla_bridge.adapters.redmine import RedmineAdapter
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "redmine").write_text(TOKEN + "\n", encoding="utf-8")
    monkeypatch.chdir("/")
    config = config_from_mapping(_example_with_redmine({"api_key": {"file": "secrets/redmine"}}),
                                 tmp_path / "sla.toml")
    adapter = RedmineAdapter("rm", config.file.trackers["rm"], config)
    assert adapter.options.api_key.file == tmp_path / "secrets" / "redmine"


def test_scrub_masks_registered_values_their_basic_forms_and_auth_headers() -> None:
    register(TOKEN, user="sla@example.com")
    basic = base64.b64encode(f"sla@example.com:{TOKEN}".encode()).decode()
    text = scrub(f"header 'X-Key: {TOKEN}' / Authorization: Basic {basic} / Bearer abcdefghijk / {basic}")
    assert TOKEN not in text and basic not in text and "abcdefghijk" not in text
    assert text.count(MASK) == 4
    texts = ScrubbedTexts()
    texts.append(f"rm: bad header {TOKEN!r}")
    texts += [f"again {TOKEN}"]
    assert all(TOKEN not in t for t in texts)


def test_log_records_and_their_tracebacks_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    register(TOKEN)
    install_log_scrubbing()
    log = logging.getLogger("sla_bridge.test")
    with caplog.at_level(logging.DEBUG):
        log.warning("sending %s", TOKEN)
        try:
            raise ValueError(f"Invalid header value {TOKEN!r}")
        except ValueError:
            log.exception("failed")
    assert TOKEN not in caplog.text
    assert all(TOKEN not in (r.exc_text or "") for r in caplog.records)
