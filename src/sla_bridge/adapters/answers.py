"""Reading a tracker's answers defensively: the small helpers every adapter shares.

An answer that is not what the tracker's API documents is said so, with a bounded
excerpt of what came instead; an id that goes into a URL is digits or refused.
Pure: no HTTP.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any, Iterator

import requests

from .base import SkippableError

_ID = re.compile(r"^[0-9]{1,18}$")

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlevel = 2
_repr.maxlist = _repr.maxdict = 3


class Malformed(ValueError):
    """A tracker's JSON is not what its API returns; the message says what and where."""


class MalformedAnswer(SkippableError):
    """An answer about one ticket (or a user it names) was not what the tracker's API
    returns: that ticket is skipped until the next pass, never judged on half of its data.
    Unlike a 403 or 404 on a user, it is never taken for "this user is not visible"."""


def short(value: Any) -> str:
    """A value for a message: bounded, whatever its size or depth."""
    try:
        return _repr.repr(value)
    except (RecursionError, ValueError):  # a huge integer, a pathological nesting
        return f"<{type_name(value)}>"


def type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def parse_id(value: Any) -> str | None:
    """A numeric id (a positive integer, or its digits) as text; ``None`` if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if 0 < value < 10**18 else None
    if isinstance(value, str) and _ID.match(value) and int(value) > 0:
        return str(int(value))
    return None


def not_json(response: requests.Response, error: BaseException) -> str:
    """What an answer that is not JSON looks like, without quoting it (it may echo anything)."""
    body = response.content or b""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    if not body.strip():
        return f"an empty body ({kind})"
    head = body.lstrip()[:200].lower()
    if head.startswith(b"<") or "html" in kind:
        return f"an HTML page ({kind}, {len(body)} bytes)"
    if isinstance(error, RecursionError):
        return f"JSON nested too deeply to read ({len(body)} bytes)"
    return f"truncated or invalid JSON ({kind}, {len(body)} bytes)"


def identified(items: list[Any], kind: str, problems: list[str]) -> Iterator[tuple[dict[str, Any], str]]:
    """Each listed item that is an object with an id, with that id; the others are said in
    `problems` (`kind`: "issue", "ticket"), so one bad row never hides the rest of a page."""
    article = "an" if kind[:1] in "aeiou" else "a"
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            problems.append(f"item {n} is {type_name(item)} ({short(item)}), not {article} {kind}")
            continue
        item_id = parse_id(item.get("id"))
        if item_id is None:
            problems.append(f"item {n} has no {kind} id (id: {short(item.get('id'))})")
            continue
        yield item, item_id
