"""Zammad users as sla-bridge ``Person``s: who reported a ticket, who wrote or changed what.

One ``GET /users/{id}?expand=true`` per user, kept for ``user_cache_seconds`` in memory
and in the adapter's facts (``user:<id>``, the store's across runs). With ``expand=true`` Zammad resolves the user's
associations to names itself (``attributes_with_association_names``):

- ``organization`` (the primary organisation's name) and ``organizations`` (the
  secondary ones);
- ``roles``: role names (``Admin``, ``Agent``, ``Customer``, custom roles);
- ``groups``: a map of group name -> access list (``{"Support L1": ["full"]}``),
  beside ``group_ids``, the same map keyed by group id. Zammad fills both only for
  users holding ``ticket.agent``, and only with the access granted to the user
  directly (not the access a role grants).

The id-to-name lists themselves (``GET /roles``, ``GET /groups``) need
``admin.role`` and ``admin.group``, which an agent's token does not have: the
expanded user is the one answer an agent token gets with the names in it.

A lookup Zammad refuses or cannot answer (403, 404, a 500 for that user) gives
what is already known — the id, and the login when the history's assets or the
article named it — and never fails the ticket; a refusal is remembered like a
success, a 500 is asked again for the next ticket. Zammad being unreachable (no answer,
502/503/504, 429 after the retries) is not a lookup failure: it ends the pass like
any other call, because a person read with no roles could be counted as the
customer, and that evaluation would be stored. For the same reason an answer that
is not a user (not JSON, no id, another user's id) skips the ticket being read
(``MalformedAnswer``), and an id that is not a number is never sent (``Malformed``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..identity import Person
from .base import Facts, ProcessFacts, SkippableError, TransientError
from .jira_facts import Memory, dump_person, load_person
from .zammad_parse import Malformed, MalformedAnswer, parse_id, short, text, type_name

log = logging.getLogger(__name__)

SYSTEM_USER_ID = "1"  # Zammad's own user "-": schedulers, "pending close", imports


def _names(value: Any) -> frozenset[str]:
    """A list of names, or a map name -> access (``groups``): the names."""
    if isinstance(value, Mapping):
        return frozenset(str(k) for k in value if k)
    if isinstance(value, list):
        return frozenset(str(v) for v in value if isinstance(v, (str, int)) and str(v))
    return frozenset()


def person_from_user(data: Any) -> Person:
    """A user as ``GET /users/{id}?expand=true`` (or ``/users/me?expand=true``) returns it;
    ``Malformed`` if it is not one (not an object, no id, a login that is not a text)."""
    if not isinstance(data, Mapping):
        raise Malformed(f"the user is {type_name(data)} ({short(data)}), not an object")
    uid = parse_id(data.get("id"))
    if uid is None:
        raise Malformed(f"the user has no id (id: {short(data.get('id'))})")
    parts = (data.get("firstname"), data.get("lastname"))
    name = " ".join(p.strip() for p in parts if isinstance(p, str)).strip()
    organisations = set(_names(data.get("organizations")))
    organization = data.get("organization")
    if isinstance(organization, str) and organization:
        organisations.add(organization)
    return Person(
        id=uid,
        login=text(data.get("login"), "the user's login"),
        email=text(data.get("email"), "the user's email"),
        name=name or None,
        groups=_names(data.get("groups")),
        roles=_names(data.get("roles")),
        organisations=frozenset(organisations),
    )


def group_access(data: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """The expanded user's ``groups``: group name -> access verbs (``full``, ``change``, ``read``, ...)."""
    groups = data.get("groups")
    if not isinstance(groups, Mapping):
        return {}
    return {str(name): frozenset(str(a) for a in (access if isinstance(access, list) else [access])
                                 if isinstance(a, str)) for name, access in groups.items()}


class Directory:
    """Persons by Zammad user id, looked up once and kept ``ttl`` seconds (in ``facts`` too)."""

    def __init__(self, get: Callable[..., Any], tracker: str, ttl: float,
                 clock: Callable[[], float] = time.time, facts: Callable[[], Facts] | None = None,
                 site: str = "") -> None:
        self._get = get
        self.tracker = tracker
        self.ttl = ttl
        self.clock = clock  # the wall clock: a person is remembered across runs
        own = ProcessFacts()
        self.memory = Memory(facts or (lambda: own), site, tracker, lambda: self.clock())

    def person(self, user_id: Any, login: str | None = None) -> Person | None:
        """The user ``user_id`` (``None`` for no user); ``login`` is what the caller already knows.

        ``Malformed`` if ``user_id`` is not an id (it is never sent); ``MalformedAnswer`` if
        Zammad's answer is not that user."""
        if user_id is None or user_id == "":
            return None
        uid = parse_id(user_id)
        if uid is None:
            raise Malformed(f"user id {short(user_id)} is not a Zammad id")
        if uid == SYSTEM_USER_ID:
            return Person(id=uid, login="-")  # never looked up: it is Zammad itself
        if self.ttl <= 0:
            return self._look_up(uid, login)
        return self.memory.get(f"user:{uid}", self.ttl, lambda: self._look_up(uid, login), load_person, dump_person)

    def _look_up(self, uid: str, login: str | None) -> Person:
        what = f"read user {uid}"
        try:
            data = self._get(f"/users/{uid}", what, expand="true")
            person = person_from_user(data)
            if person.id != uid:
                raise Malformed(f"Zammad answered user {person.id} instead")
        except MalformedAnswer:
            raise  # not JSON: the ticket being read is skipped
        except Malformed as exc:
            raise MalformedAnswer(f"{self.tracker}: {what}: {exc}") from None
        except SkippableError as exc:  # 403, 404, 422: asking again will not help
            log.warning("%s: user %s: %s; matched on id%s only", self.tracker, uid, self._bare(exc),
                        " and login" if login else "")
            person = Person(id=uid, login=login)
        except TransientError as exc:
            if ": HTTP 500" not in str(exc):
                raise  # Zammad unreachable: the pass ends, nothing is judged on a half-known person
            # Half-known, an agent would not match `role:Agent` and their comment would count
            # as the customer's answer: the ticket waits for its retry instead.
            raise SkippableError(f"{self.tracker}: {self._bare(exc)}; the ticket is read again later") from None
        return person

    def _bare(self, exc: Exception) -> str:
        """An error's text without the tracker's name it starts with: a message names it once."""
        return str(exc).removeprefix(f"{self.tracker}: ")
