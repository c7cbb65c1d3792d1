"""Who someone is on a tracker, and how the configuration names people.

A display name is what a person sees, not who someone is: two users may share one,
and an admin may rename anyone. So every adapter describes a user by the stable
identities its tracker gives (id, login, e-mail) and by what they belong to
(groups, roles, organisations, account type), and the configuration names people
by those, as ``kind:value`` patterns:

=============  ==============================================================
``id:5``       the tracker's user id (Redmine/Zammad id, Jira Cloud accountId,
               Jira Data Center key)
``login:x``    the login (Redmine login, Jira Data Center username, Zammad login)
``email:a@b``  the e-mail address, where the tracker shows it
``group:x``    a tracker group (Redmine group, Jira group, Zammad group)
``role:x``     a role (Redmine project role in the ticket's project, Zammad role)
``org:x``      an organisation (Zammad organisation, JSM organisation)
``type:x``     the account type (Jira Cloud: ``atlassian`` or ``customer``)
=============  ==============================================================

A bare string (no ``kind:``) matches a user's id, login or e-mail, never a
display name.
Matching is case-insensitive. Pure: no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Iterable


class IdentityKind(enum.StrEnum):
    ID = "id"
    LOGIN = "login"
    EMAIL = "email"
    GROUP = "group"
    ROLE = "role"
    ORG = "org"
    TYPE = "type"


@dataclass(frozen=True)
class Person:
    """One tracker user as sla-bridge matches them; ``name`` is only ever shown."""

    id: str | None = None
    login: str | None = None
    email: str | None = None
    name: str | None = None
    groups: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    organisations: frozenset[str] = frozenset()
    account_type: str | None = None

    def __str__(self) -> str:
        return self.name or self.login or self.email or (f"user {self.id}" if self.id else "unknown")

    def identities(self) -> frozenset[tuple[IdentityKind, str]]:
        """Every ``(kind, value)`` this person answers to, casefolded."""
        found: set[tuple[IdentityKind, str]] = set()
        for kind, value in ((IdentityKind.ID, self.id), (IdentityKind.LOGIN, self.login),
                            (IdentityKind.EMAIL, self.email), (IdentityKind.TYPE, self.account_type)):
            if value:
                found.add((kind, value.casefold()))
        for kind, values in ((IdentityKind.GROUP, self.groups), (IdentityKind.ROLE, self.roles),
                             (IdentityKind.ORG, self.organisations)):
            found.update((kind, v.casefold()) for v in values if v)
        return frozenset(found)

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "login": self.login, "email": self.email, "name": self.name,
                "groups": sorted(self.groups), "roles": sorted(self.roles),
                "organisations": sorted(self.organisations), "account_type": self.account_type}


_BARE = (IdentityKind.ID, IdentityKind.LOGIN, IdentityKind.EMAIL)


@dataclass(frozen=True)
class IdentityPattern:
    """One entry of ``agents`` or ``[entitlement] reporters``: ``kind:value`` or a bare id/login."""

    kind: IdentityKind | None  # None: a bare string, matching an id, a login or an e-mail
    value: str  # casefolded
    text: str = field(compare=False, default="")

    def matches(self, identities: frozenset[tuple[IdentityKind, str]]) -> bool:
        if self.kind is None:
            return any((kind, self.value) in identities for kind in _BARE)
        return (self.kind, self.value) in identities

    def __str__(self) -> str:
        return self.text or (f"{self.kind}:{self.value}" if self.kind else self.value)


def parse_pattern(text: str) -> IdentityPattern:
    """``"login:cust-admin"``, ``"group:formes"``, ``"5"``; raise ValueError naming the allowed kinds."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected a user identity like \"login:jdoe\" or \"group:support\", got {text!r}")
    stripped = text.strip()
    head, sep, rest = stripped.partition(":")
    if sep and head.strip().casefold() in {k.value for k in IdentityKind}:
        if not rest.strip():
            raise ValueError(f"{text!r}: nothing after {head}:")
        return IdentityPattern(IdentityKind(head.strip().casefold()), rest.strip().casefold(), stripped)
    if sep and head.strip().isalpha() and "@" not in stripped and " " not in head:
        kinds = ", ".join(f"{k.value}:" for k in IdentityKind)
        raise ValueError(f"{text!r}: unknown identity kind {head!r}; expected one of {kinds}"
                         " or a bare id, login or e-mail")
    if " " in stripped:
        # A space is the mark of a display name, which changes and is not unique.
        raise ValueError(f"{text!r} looks like a display name; name people by a stable identity:"
                         " id:, login:, email:, or by group:, role:, org:")
    return IdentityPattern(None, stripped.casefold(), stripped)


def parse_patterns(texts: Iterable[str]) -> tuple[IdentityPattern, ...]:
    return tuple(parse_pattern(t) for t in texts)


def matches(person: Person | None, patterns: Iterable[IdentityPattern]) -> bool:
    """Whether `person` answers to any of `patterns` (no person matches nothing)."""
    if person is None:
        return False
    identities = person.identities()
    return any(p.matches(identities) for p in patterns)
