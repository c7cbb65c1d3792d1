"""Jira's JSON values in sla-bridge's terms: times, JQL literals, comment markup, field values, users.

Pure helpers of the Jira adapter (``jira.py``): no HTTP here.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import requests

from ..identity import Person
from ..secrets import scrub

CUSTOM_FIELD = re.compile(r"^customfield_\d+$")
# A system field id as the REST API names it: "components", "fixVersions", "labels", ...
SYSTEM_FIELD = re.compile(r"^[a-z][A-Za-z]*$")
# Data Center's changelog names system fields by a label, not by their id (Cloud gives both).
CHANGELOG_NAMES = {"components": "Component", "fixVersions": "Fix Version", "versions": "Version"}
# An issue key (``SUP-12``; project keys may hold digits and underscores) or an issue id (``10001``).
# Nothing else is ever put into a request path: no ``/``, ``..``, ``?``, ``%`` or white space.
ISSUE_KEY = re.compile(r"(?:[^\W\d]\w{0,254}-\d{1,18}|\d{1,18})")


class Malformed(ValueError):
    """Jira's JSON for one ticket is not what the REST API documents; the message says what."""


def shorten(value: Any, limit: int = 60) -> str:
    """A value from Jira, for a message: its repr, scrubbed of secrets, cut to ``limit`` characters."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<a deeply nested {type(value).__name__}>"
    text = scrub(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def issue_key(value: Any) -> str | None:
    """``value`` when it is an issue key or id sla-bridge may put into a request path, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        value = str(value)
    return value if isinstance(value, str) and ISSUE_KEY.fullmatch(value) else None


def text(value: Any) -> str | None:
    """A JSON scalar as text (a string, a number); None for anything else (objects, lists, booleans)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (for optional parts)."""
    return value if isinstance(value, dict) else {}


def objects(value: Any, what: str) -> list[dict[str, Any]]:
    """A JSON list of objects (None: empty); anything else is malformed."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Malformed(f"{what} is not a list of objects: {shorten(value)}")
    return value


def count(value: Any, default: int) -> int:
    """A JSON count (``total``): a non-negative integer, else ``default``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return default


# --- times ----------------------------------------------------------------------------

def parse_time(value: Any) -> datetime | None:
    """Jira's ``2025-06-02T16:40:01.123+0200`` (or ISO forms) as an aware datetime.

    None for no value; ``ValueError`` for anything that is not a date and time with
    its offset (a number, a date alone, a time without a zone).
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{shorten(value)} is not a date and time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{shorten(value)} is not a date and time") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{shorten(value)} has no time zone offset")
    return parsed


def required_time(value: Any, what: str) -> datetime:
    try:
        parsed = parse_time(value)
    except ValueError as exc:
        raise Malformed(f"{what}: {exc}") from None
    if parsed is None:
        raise Malformed(f"{what} has no time")
    return parsed


def optional_time(value: Any, what: str) -> datetime | None:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise Malformed(f"{what}: {exc}") from None


def optional_date(value: Any, what: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise Malformed(f"{what}: {shorten(value)} is not a date (YYYY-MM-DD)")


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
_FINAL_MARKER = re.compile(r"\n\n\[sla-bridge:[^\]\s]+\]\Z")


def wiki(body: str) -> str:
    """Comment text as Jira wiki markup: the marker's brackets would render as a link."""
    return _MARKER.sub(r"\\[\1\\]", body)


def unwiki(body: str) -> str:
    return _ESCAPED_MARKER.sub(r"[\1]", body)


def java_length(text: str) -> int:
    """The length Jira measures (Java's ``String.length()``: UTF-16 code units; an emoji counts two)."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def fit_comment(body: str, limit: int) -> str:
    """``wiki(body)`` within ``limit`` as Jira counts it, cutting the text before the final marker.

    The sync cuts a comment to the limit before it is escaped; escaping adds a backslash
    before each bracket of every marker, and an emoji counts two in Java: the text (never
    the marker) is cut again, with an ellipsis, until the escaped whole fits.
    """
    escaped = wiki(body)
    if java_length(escaped) <= limit:
        return escaped
    final = _FINAL_MARKER.search(body)
    head, tail = (body[:final.start()], wiki(body[final.start():])) if final else (body, "")
    head = head.removesuffix("…")  # the sync's own cut: one ellipsis is enough
    room = limit - java_length(tail) - 1  # the ellipsis
    low, high = 0, len(head)  # the longest cut of `head` whose escaped form fits `room`
    while low < high:
        middle = (low + high + 1) // 2
        if java_length(wiki(head[:middle])) <= room:
            low = middle
        else:
            high = middle - 1
    return wiki(head[:low]) + "…" + tail if room >= 0 else tail


def former_keys(histories: list[dict[str, Any]]) -> set[str]:
    """The keys an issue had before a move, from the changelog's ``Key`` items."""
    return {key for history in histories for item in objects(history.get("items"), "a history entry's items")
            if item.get("field") == "Key" and (key := text(item.get("fromString")))}


def is_public(comment: dict[str, Any]) -> bool:
    """Internal when ``jsdPublic`` is false, the ``sd.public.comment`` property says so, or restricted."""
    if comment.get("jsdPublic") is False or comment.get("visibility"):
        return False
    properties = comment.get("properties")
    for prop in properties if isinstance(properties, list) else []:
        if isinstance(prop, dict) and prop.get("key") == "sd.public.comment" \
                and obj(prop.get("value")).get("internal") is True:
            return False
    return True


# --- errors ---------------------------------------------------------------------------

def messages(response: requests.Response) -> str:
    """Jira's error text: ``errorMessages``, ``errors`` by field (what a person needs to fix a
    screen), or Jersey's ``message`` for an unknown resource.

    Scrubbed of every secret *before* it is cut: a proxy's error page may echo the request's
    headers, and a cut must never leave the first half of a token behind.
    """
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return scrub(" ".join(response.text.split()))[:200]
    if not isinstance(body, dict):
        return scrub(shorten(body, 400))[:200]
    listed = body.get("errorMessages")
    found = [str(m) for m in listed] if isinstance(listed, list) else []
    errors = body.get("errors")
    if isinstance(errors, dict):
        found += [f"{k}: {v}" for k, v in errors.items()]
    if body.get("message"):
        found.append(str(body["message"]))
    return scrub("; ".join(found))[:500]


def not_json(response: requests.Response) -> str:
    """What a 200 that is not JSON holds, for a message: empty, HTML (a login page), cut short."""
    kind = response.headers.get("Content-Type") or "no Content-Type"
    if not response.content:
        return f"an empty body ({kind})"
    snippet = scrub(" ".join(response.text[:2000].split()))[:120]
    if "json" in kind.lower():
        return f"a truncated or invalid JSON body ({snippet!r}…)"
    return f"{kind} instead of JSON ({snippet!r}…)"


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
    if not user or not isinstance(user, dict):
        return None
    email = text(user.get("emailAddress")) or None
    name = text(user.get("displayName")) or None
    if cloud or "accountId" in user:
        return Person(id=text(user.get("accountId")) or None, email=email, name=name,
                      groups=frozenset(groups), organisations=frozenset(organisations),
                      account_type=text(user.get("accountType")) or None)
    login = text(user.get("name")) or None
    return Person(id=text(user.get("key")) or login, login=login, email=email, name=name, groups=frozenset(groups),
                  organisations=frozenset(organisations))


def user_key(user: dict[str, Any] | None) -> str | None:
    """What identifies a user in one deployment: accountId (Cloud), else key, else name."""
    if not user or not isinstance(user, dict):
        return None
    return text(user.get("accountId")) or text(user.get("key")) or text(user.get("name")) or None


def shown(user: dict[str, Any] | None) -> str | None:
    """A user as events show them (never matched on): the display name, else an id."""
    if not user or not isinstance(user, dict):
        return None
    return (text(user.get("displayName")) or text(user.get("name")) or text(user.get("accountId"))
            or text(user.get("key")) or None)
