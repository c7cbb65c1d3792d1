"""Jira's JSON values in sla-bridge's terms: times, JQL literals, comment markup, field values, users.

Pure helpers of the Jira adapter (``jira.py``): no HTTP here.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import requests

from ..identity import Person

CUSTOM_FIELD = re.compile(r"^customfield_\d+$")
# A system field id as the REST API names it: "components", "fixVersions", "labels", ...
SYSTEM_FIELD = re.compile(r"^[a-z][A-Za-z]*$")
# Data Center's changelog names system fields by a label, not by their id (Cloud gives both).
CHANGELOG_NAMES = {"components": "Component", "fixVersions": "Fix Version", "versions": "Version"}


# --- times ----------------------------------------------------------------------------

def parse_time(value: str | None) -> datetime | None:
    """Jira's ``2025-06-02T16:40:01.123+0200`` (or ISO forms) as an aware datetime."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no offset")
    return parsed


def required_time(value: str | None, what: str) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError(f"{what} has no time")
    return parsed


def jira_time(t: datetime) -> str:
    """The format Jira writes and reads for date-time fields: ``2025-06-03T11:00:00.000+0200``."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}" + t.strftime("%z")


def deadline_value(t: datetime) -> str:
    """The deadline to the minute, what the sync compares: a Data Center database without
    fractional seconds (MySQL) rounds 10:59:59.6 up to the next minute, and the next pass
    would see a deadline to correct."""
    return jira_time(t.replace(second=0, microsecond=0))


def wall_clock(t: datetime, zone: ZoneInfo) -> datetime:
    """``t`` on the wall clock of ``zone``, never read by Jira as a later instant.

    In the hour that repeats when summer time ends, one wall-clock time names two
    instants an hour apart, and Jira may read it as the later one: then the earlier
    reading is moved back by the difference.
    """
    local = t.astimezone(zone)
    other = local.replace(fold=1 - local.fold).utcoffset()
    ahead = (local.utcoffset() or timedelta()) - (other or timedelta())
    return local - ahead if ahead > timedelta() else local


def jql_string(value: str) -> str:
    """A JQL string literal: double quotes, with backslashes and quotes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- comments -------------------------------------------------------------------------

_ESCAPED_MARKER = re.compile(r"\\\[(sla-bridge:[^\]\s\\]+)\\\]")
_MARKER = re.compile(r"\[(sla-bridge:[^\]\s]+)\]")


def wiki(body: str) -> str:
    """Comment text as Jira wiki markup: the marker's brackets would render as a link."""
    return _MARKER.sub(r"\\[\1\\]", body)


def unwiki(body: str) -> str:
    return _ESCAPED_MARKER.sub(r"[\1]", body)


def former_keys(histories: list[dict[str, Any]]) -> set[str]:
    """The keys an issue had before a move, from the changelog's ``Key`` items."""
    return {str(item["fromString"]) for history in histories for item in history.get("items") or []
            if item.get("field") == "Key" and item.get("fromString")}


def is_public(comment: dict[str, Any]) -> bool:
    """Internal when ``jsdPublic`` is false, the ``sd.public.comment`` property says so, or restricted."""
    if comment.get("jsdPublic") is False or comment.get("visibility"):
        return False
    for prop in comment.get("properties") or []:
        if prop.get("key") == "sd.public.comment" and (prop.get("value") or {}).get("internal") is True:
            return False
    return True


# --- errors ---------------------------------------------------------------------------

def messages(response: requests.Response) -> str:
    """Jira's error text: ``errorMessages``, ``errors`` by field (what a person needs to fix a
    screen), or Jersey's ``message`` for an unknown resource."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if not isinstance(body, dict):
        return str(body)[:200]
    found = [str(m) for m in body.get("errorMessages") or []]
    errors = body.get("errors")
    if isinstance(errors, dict):
        found += [f"{k}: {v}" for k, v in errors.items()]
    if body.get("message"):
        found.append(str(body["message"]))
    return "; ".join(found)[:500]


# --- field values ---------------------------------------------------------------------

def field_id(value: str | int) -> str | None:
    """A configured field as Jira's id: ``customfield_10060``, ``components``; an int N is
    ``customfield_N``. None when it is not a field id (a display name, say)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"customfield_{value}" if value > 0 else None
    text = str(value).strip()
    return text if CUSTOM_FIELD.match(text) or SYSTEM_FIELD.match(text) else None


def one_value(raw: Any) -> str | None:
    """One element of a field's value as text: an option's ``value`` (select lists), a
    component's, version's or organisation's ``name``, a user's ``displayName``, a string."""
    if raw is None or isinstance(raw, bool):
        return None if raw is None else str(raw).lower()
    if isinstance(raw, (str, int, float)):
        text = str(raw).strip()
        return text or None
    if isinstance(raw, dict):
        for key in ("value", "name", "key", "displayName", "id"):
            if raw.get(key) not in (None, ""):
                return str(raw[key])
    return None


def field_values(raw: Any) -> list[str]:
    """Every value of a field: an array gives several (multi-select, components, versions,
    labels, organisations); a cascading select gives its parent option and ``parent / child``."""
    items = raw if isinstance(raw, list) else [raw]
    found: list[str] = []
    for element in items:
        value = one_value(element)
        if value is None:
            continue
        found.append(value)
        child = element.get("child") if isinstance(element, dict) else None
        child_value = one_value(child)
        if child_value is not None:
            found.append(f"{value} / {child_value}")
    return found


def split_values(text: str | None, kind: str) -> set[str]:
    """The values a changelog string lists: labels are separated by spaces, multi-value
    custom fields by commas (``A,B``; a comma followed by a space belongs to a value)."""
    if not text:
        return set()
    if kind == "labels":
        return set(text.split())
    return {part.strip() for part in re.split(r",(?! )", text) if part.strip()}


# --- users ----------------------------------------------------------------------------

def person(user: dict[str, Any] | None, cloud: bool, groups: Iterable[str] = (),
           organisations: Iterable[str] = ()) -> Person | None:
    """A Jira user as sla-bridge matches it.

    Cloud: ``accountId`` is the id, ``accountType`` the type (``atlassian``, ``customer``,
    ``app``); there is no username. Data Center: ``key`` is the id (it survives a rename),
    ``name`` the login. ``emailAddress`` where Jira shows it; ``displayName`` is only shown.
    """
    if not user:
        return None
    email = user.get("emailAddress") or None
    if cloud or "accountId" in user:
        return Person(id=user.get("accountId") or None, email=email, name=user.get("displayName") or None,
                      groups=frozenset(groups), organisations=frozenset(organisations),
                      account_type=user.get("accountType") or None)
    return Person(id=user.get("key") or user.get("name") or None, login=user.get("name") or None, email=email,
                  name=user.get("displayName") or None, groups=frozenset(groups),
                  organisations=frozenset(organisations))


def user_key(user: dict[str, Any] | None) -> str | None:
    """What identifies a user in one deployment: accountId (Cloud), else key, else name."""
    if not user:
        return None
    found = user.get("accountId") or user.get("key") or user.get("name")
    return str(found) if found else None


def shown(user: dict[str, Any] | None) -> str | None:
    """A user as events show them (never matched on): the display name, else an id."""
    if not user:
        return None
    found = user.get("displayName") or user.get("name") or user.get("accountId") or user.get("key")
    return str(found) if found else None
