"""What an adapter learnt about its tracker and keeps between runs (``base.Facts``).

``Memory`` holds each fact in memory and in the adapter's ``Facts`` (the store's, across
processes, once the sync gives them; until then the process's own). A fact is stored as
JSON: ``{"site": …, "at": …, "value": …}``:

- ``site``: a fingerprint of the tracker's address and of the credential it was learnt
  with (a short SHA-256, never the secret): the same tracker name pointed at another site,
  or given another account's token, learns everything again;
- ``at``: the wall-clock instant it was learnt (seconds since the epoch);
- ``value``: what was learnt, as JSON.

A stored fact older than the lifetime its reader gives, from another site, dated in the
future, or not of the form its reader accepts (``load`` raises) is ignored and learnt
again; nothing stored can make a read fail. ``forget`` drops a fact a refusal contradicted:
the next read learns it from the tracker, whatever is stored. Failing to read or write the
facts (a store that cannot be written) is logged, never fatal: remembering saves requests,
it is not needed to be right.

The same helper serves the three built-in adapters (``zammad_facts`` and ``redmine_facts``
import it); it belongs beside ``Facts`` in ``base.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from typing import Any, Callable, TypeVar

from ..identity import Person
from .base import Facts

log = logging.getLogger(__name__)

T = TypeVar("T")
HOUR = 3600.0
DAY = 86400.0
SKEW = 300.0  # a fact learnt more than this in the future was not learnt by this clock
_UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OverflowError)


def fingerprint(*parts: str) -> str:
    """A short digest of what identifies the tracker and the account (url, login, secret)."""
    return hashlib.sha256("\n".join(("sla-bridge facts", *parts)).encode("utf-8")).hexdigest()[:16]


def _same(value: Any) -> Any:
    return value


class Memory:
    """Facts about one tracker, each with the instant it was learnt.

    ``facts`` is called at each use: the sync replaces the adapter's ``facts`` after
    building it, before its first request.
    """

    def __init__(self, facts: Callable[[], Facts], site: str, tracker: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.facts = facts
        self.site = site
        self.tracker = tracker
        self.clock = clock
        self._held: dict[str, tuple[float, Any, bool]] = {}  # key -> (learnt at, value, learnt by this process)
        self._forgotten: set[str] = set()

    def get(self, key: str, ttl: float, learn: Callable[[], T], load: Callable[[Any], T],
            dump: Callable[[T], Any] = _same) -> T:
        """The fact ``key`` if it was learnt less than ``ttl`` seconds ago, else ``learn()``'s answer
        (kept). ``load`` turns a stored value back into the fact, raising if it is not one."""
        now = self.clock()
        held = self._held.get(key)
        if held is not None and now - held[0] < ttl:
            return held[1]  # type: ignore[no-any-return]
        if key not in self._forgotten:
            found = self._recall(key, ttl, load, now)
            if found is not None:
                self._held[key] = (found[0], found[1], False)
                return found[1]
        value = learn()
        self.keep(key, value, dump)
        return value

    def peek(self, key: str, ttl: float, load: Callable[[Any], T]) -> tuple[T] | None:
        """The fact if known and young enough, without learning it: ``(value,)``, or None."""
        now = self.clock()
        held = self._held.get(key)
        if held is not None and now - held[0] < ttl:
            return (held[1],)
        if key in self._forgotten:
            return None
        found = self._recall(key, ttl, load, now)
        if found is None:
            return None
        self._held[key] = (found[0], found[1], False)
        return (found[1],)

    def keep(self, key: str, value: T, dump: Callable[[T], Any] = _same) -> None:
        """Remember ``value`` as learnt now, in memory and in the facts."""
        now = self.clock()
        self._held[key] = (now, value, True)
        self._forgotten.discard(key)
        try:
            text = json.dumps({"site": self.site, "at": now, "value": dump(value)}, separators=(",", ":"),
                              sort_keys=True, ensure_ascii=False)
            self.facts().put(key, text)
        except Exception as exc:  # noqa: BLE001 - a fact not kept costs a request later, nothing else
            log.warning("%s: cannot remember %s (%s: %s); it will be asked again", self.tracker, key,
                        type(exc).__name__, str(exc)[:200])

    def forget(self, key: str) -> None:
        """The fact was contradicted (a refusal, a miss): the next ``get`` asks the tracker."""
        self._held.pop(key, None)
        self._forgotten.add(key)

    def learnt_here(self, key: str) -> bool:
        """Whether the fact held now was learnt from the tracker by this process (not recalled)."""
        held = self._held.get(key)
        return held is not None and held[2]

    def _recall(self, key: str, ttl: float, load: Callable[[Any], T], now: float) -> tuple[float, T] | None:
        try:
            raw = self.facts().get(key)
        except Exception as exc:  # noqa: BLE001 - a fact not read is learnt again
            log.warning("%s: cannot read what was remembered of %s (%s: %s); asking the tracker", self.tracker,
                        key, type(exc).__name__, str(exc)[:200])
            return None
        if not isinstance(raw, str):
            return None
        try:
            data = json.loads(raw)
            at = data["at"]
            if data.get("site") != self.site or isinstance(at, bool) or not isinstance(at, (int, float)) \
                    or not math.isfinite(at) or at > now + SKEW or now - at >= ttl:
                return None
            return float(at), load(data["value"])
        except _UNREADABLE:
            return None


def dump_person(person: Person) -> dict[str, Any]:
    """A ``Person`` as a JSON fact (``load_person`` reads it back)."""
    return {"id": person.id, "login": person.login, "email": person.email, "name": person.name,
            "groups": sorted(person.groups), "roles": sorted(person.roles),
            "organisations": sorted(person.organisations), "account_type": person.account_type}


def load_person(value: Any) -> Person:
    """A remembered ``Person``; ``TypeError`` if the value is not one."""
    if not isinstance(value, dict):
        raise TypeError("not a person")
    texts: dict[str, str | None] = {}
    for key in ("id", "login", "email", "name", "account_type"):
        found = value.get(key)
        if found is not None and not isinstance(found, str):
            raise TypeError(f"a person's {key} is not a text")
        texts[key] = found
    lists: dict[str, frozenset[str]] = {}
    for key in ("groups", "roles", "organisations"):
        items = value.get(key)
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise TypeError(f"a person's {key} are not a list of texts")
        lists[key] = frozenset(items)
    return Person(id=texts["id"], login=texts["login"], email=texts["email"], name=texts["name"],
                  groups=lists["groups"], roles=lists["roles"], organisations=lists["organisations"],
                  account_type=texts["account_type"])
