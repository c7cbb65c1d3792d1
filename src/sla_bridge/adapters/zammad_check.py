"""``sla-bridge check-config --connect`` for Zammad: what the configuration names, looked up read-only.

Only GETs, in this order:

1. ``/users/me?expand=true``: the token authenticates (a failure is the one check
   returned); the user's roles and groups (name -> access), and whether it holds
   ``change`` access, needed to add articles, tags and states;
2. one ticket (the change query, one row) and its ``/ticket_history``: the token
   itself carries ``ticket.agent`` (a token's permissions can be narrower than its
   user's, and only ``ticket.agent`` may read a history);
3. ``/ticket_states?expand=true``: every state named in ``statuses`` and
   ``closing_status``, and that the closing state's type is ``closed``;
4. ``/ticket_priorities``: every priority named in ``severities`` when the severity
   is the priority;
5. ``/object_manager_attributes`` (``admin.object`` only): ``due_attribute`` (a Date &
   Time allowing past and future dates), ``severity_field``, ``type_attribute``,
   ``fix_version_attribute`` and ``fields``. Without ``admin.object`` an attribute is
   looked for on the sample ticket instead (Zammad's ticket JSON carries every
   attribute, empty or not), and its type and options are reported as not verified.

Zammad has no workflow between states: any state may be set from any other, so a
path from each waiting status to the closing one always exists (a Core Workflow or
the group's permission can still refuse a change; the sync reports it).

A check that could not be made (a permission Zammad does not give an agent's
token) is reported with ``ok=True`` and a detail starting with "not verified".
No detail ever contains the token. An answer not shaped like Zammad's is a failed
check saying so, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .base import AdapterError, Check, SkippableError
from .zammad_identity import group_access
from .zammad_parse import Malformed, parse_id, short

if TYPE_CHECKING:
    from .zammad import ZammadAdapter

# Ticket::StateType as Zammad seeds it (db/seeds/ticket_state_types.rb); used when a
# state list comes without its expanded ``state_type`` name.
STATE_TYPES = {1: "new", 2: "open", 3: "pending reminder", 4: "pending action", 5: "closed", 6: "merged",
               7: "removed"}
WRITE_ACCESS = frozenset({"full", "change"})
NO_WORKFLOW = ("Zammad has no workflow between states: any state can be set from any other (a Core Workflow or"
               " the group's permission can still refuse a change; the sync reports it)")


def check_connection(adapter: ZammadAdapter) -> list[Check]:
    url = adapter.options.url
    try:
        me = adapter.read_me()  # /users/me?expand=true, read now
        person = adapter.me_person
    except AdapterError as exc:
        return [Check("authentication", url, False, str(exc))]
    roles = ", ".join(sorted(person.roles)) or "none"
    checks = [Check("authentication", url, True, f"as {person.login!r} ({person}), roles: {roles}")]
    sample, token_check = _sample(adapter)
    checks.append(token_check)
    checks += _write_access(adapter, me)
    checks += _states(adapter)
    if adapter.options.severity_field == "priority":
        checks += _priorities(adapter)
    checks += _attributes(adapter, sample)
    prefix = adapter.labels.prefix
    checks.append(Check("permission", "tags", True,
                        f"not verified: sla-bridge adds tags starting with {prefix!r}; if agents may not create new"
                        " tags (the tag_new setting), create them once in Admin > Tags or give the API user"
                        " admin.tag"))
    return checks


_UNEXPECTED = (Malformed, KeyError, TypeError, ValueError, AttributeError)


def _guard(subject: str, name: str, probe: Callable[[], list[Check]]) -> list[Check]:
    """A lookup that failed is a failed check of what it was for, never an exception."""
    try:
        return probe()
    except AdapterError as exc:
        return [Check(subject, name, False, str(exc))]
    except _UNEXPECTED as exc:
        return [Check(subject, name, False, f"Zammad's answer is not shaped as expected ({type(exc).__name__}:"
                                            f" {short(str(exc))})")]


def _sample(adapter: ZammadAdapter) -> tuple[dict[str, Any] | None, Check]:
    """One ticket the token can read, and whether the token itself holds ``ticket.agent``."""
    name = "ticket.agent"
    try:
        if adapter.options.search == "list":
            rows = adapter._get("/tickets", "list tickets", expand="true", page=1, per_page=1)
        else:
            rows = adapter._get("/tickets/search", "search tickets", expand="true", page=1, per_page=1,
                                sort_by="updated_at", order_by="desc",
                                **{"condition[ticket.updated_at][operator]": "after (absolute)",
                                   "condition[ticket.updated_at][value]": "1970-01-01T00:00:00.000Z"})
    except SkippableError as exc:
        return None, Check("permission", name, False, f"the token cannot list tickets ({adapter._bare(exc)}): it"
                                                      " needs the ticket.agent permission and read access to the"
                                                      " groups")
    except AdapterError as exc:
        return None, Check("permission", name, False, str(exc))
    sample = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else None
    if sample is None:
        return None, Check("permission", name, True, "not verified: no ticket is visible to this token yet")
    number = sample.get("number") or sample.get("id")
    ticket_id = parse_id(sample.get("id"))
    if ticket_id is None:
        return None, Check("permission", name, False, f"the ticket list's first item has no ticket id"
                                                      f" ({short(sample.get('id'))}): is {adapter.options.url} a"
                                                      " Zammad 5 or 6?")
    try:
        adapter._get(f"/ticket_history/{ticket_id}", f"read the history of ticket {ticket_id}")
    except SkippableError as exc:
        return sample, Check("permission", name, False, f"the token cannot read ticket histories"
                                                        f" ({adapter._bare(exc)}): create a token with the"
                                                        " ticket.agent permission")
    except AdapterError as exc:
        return sample, Check("permission", name, False, str(exc))
    return sample, Check("permission", name, True, f"the token reads tickets and their history (ticket {number})")


def _write_access(adapter: ZammadAdapter, me: Mapping[str, Any]) -> list[Check]:
    """Change access to the configured groups (or to some group): articles, tags and states need it."""
    access = {name.casefold(): (name, verbs) for name, verbs in group_access(me).items()}
    hidden = ("; Zammad shows only the access granted to the user itself, not through its roles: if a role grants"
              " it, ignore this")
    checks = []
    if adapter.options.groups:
        for group in adapter.options.groups:
            found = access.get(group.casefold())
            if found is None:
                checks.append(Check("group", group, False, "not among the groups the API user has access to"
                                    f" (Admin > Users > {me.get('login')} > Group permissions){hidden}"))
            elif not found[1] & WRITE_ACCESS:
                checks.append(Check("group", group, False, f"{', '.join(sorted(found[1]))} access only: sla-bridge"
                                    " needs change (or full) access to add articles, tags and states"))
            else:
                checks.append(Check("group", found[0], True, f"{', '.join(sorted(found[1]))} access"))
    writable = sorted(name for name, verbs in access.values() if verbs & WRITE_ACCESS)
    if writable:
        checks.append(Check("permission", "write articles", True, f"change access to {', '.join(writable)}"))
    else:
        checks.append(Check("permission", "write articles", False,
                            "the API user has change access to no group, so it cannot add articles, tags or"
                            f" states: give it the Agent role and change access to the contract's groups{hidden}"))
    return checks


def _by_name(items: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(items, list):
        raise SkippableError(f"expected a list, got {type(items).__name__}")
    return {str(i.get("name")).casefold(): i for i in items if isinstance(i, dict) and i.get("name")}


def _states(adapter: ZammadAdapter) -> list[Check]:
    section = adapter.section
    named = [name for names in section.statuses.model_dump().values() for name in names]
    closing = section.closing_status

    def probe() -> list[Check]:
        states = _by_name(adapter._get("/ticket_states", "list ticket states", expand="true"))
        checks = []
        for name in dict.fromkeys(named):
            state = states.get(name.casefold())
            if state is None:
                checks.append(Check("status", name, False, f"Zammad has no state {name!r}; states:"
                                    f" {', '.join(sorted(str(s['name']) for s in states.values()))}"))
            elif state.get("active") is False:
                checks.append(Check("status", name, False, "the state exists but is inactive"))
            else:
                checks.append(Check("status", name, True, f"state type {_state_type(state)!r}"))
        if closing is not None:
            state = states.get(closing.casefold())
            if state is None:
                checks.append(Check("closing status", closing, False, f"Zammad has no state {closing!r}"
                                    f" (trackers.{adapter.name}.closing_status)"))
            elif _state_type(state) != "closed":
                checks.append(Check("closing status", closing, False, f"its type is {_state_type(state)!r}: the"
                                    " closing state must be of type closed (a pending state needs a pending time)"))
            elif state.get("active") is False:
                checks.append(Check("closing status", closing, False, "the state exists but is inactive"))
            else:
                checks.append(Check("closing status", closing, True, "state type 'closed'"))
            for waiting in section.statuses.waiting_for_customer:
                checks.append(Check("transition", f"{waiting} -> {closing}", True, NO_WORKFLOW))
        return checks

    return _guard("status", ", ".join(named), probe)


def _state_type(state: Mapping[str, Any]) -> str:
    if state.get("state_type"):
        return str(state["state_type"])
    return STATE_TYPES.get(state.get("state_type_id") or 0, f"type {state.get('state_type_id')}")


def _priorities(adapter: ZammadAdapter) -> list[Check]:
    wanted = list(adapter.section.severities)

    def probe() -> list[Check]:
        priorities = _by_name(adapter._get("/ticket_priorities", "list ticket priorities"))
        checks = []
        for name in wanted:
            priority = priorities.get(name.casefold())
            if priority is None:
                checks.append(Check("priority", name, False, f"Zammad has no priority {name!r} (trackers."
                                    f"{adapter.name}.severities); priorities:"
                                    f" {', '.join(sorted(str(p['name']) for p in priorities.values()))}"))
            elif priority.get("active") is False:
                checks.append(Check("priority", name, False, "the priority exists but is inactive"))
            else:
                checks.append(Check("priority", name, True, f"priority {priority['id']}"))
        return checks

    return _guard("priority", ", ".join(wanted), probe)


def _wanted_attributes(adapter: ZammadAdapter) -> list[tuple[str, str, str]]:
    """(config key, attribute, what it must be): ``datetime`` (past and future), ``date & time``,
    ``severity`` (a select holding the severity values) or ``any``."""
    options, name = adapter.options, adapter.name
    wanted = [(f"trackers.{name}.options.due_attribute", options.due_attribute, "deadline")]
    if options.severity_field != "priority":
        wanted.append((f"trackers.{name}.options.severity_field", options.severity_field, "severity"))
    for key in ("type_attribute", "fix_version_attribute"):
        value = getattr(options, key)
        if value:
            wanted.append((f"trackers.{name}.options.{key}", value, "any"))
    for field, attribute in adapter.field_attributes.items():
        wanted.append((f"trackers.{name}.fields.{field}", attribute, "any"))
    if adapter.reported_at_attribute:
        wanted.append((f"trackers.{name}.fields.reported_at", adapter.reported_at_attribute, "date & time"))
    return wanted


def _attributes(adapter: ZammadAdapter, sample: dict[str, Any] | None) -> list[Check]:
    wanted = _wanted_attributes(adapter)
    try:
        listed = adapter._get("/object_manager_attributes", "list object attributes")
    except SkippableError:  # admin.object only
        return [_on_sample(key, attribute, need, sample) for key, attribute, need in wanted]
    except AdapterError as exc:
        return [Check("attribute", attribute, False, str(exc)) for _key, attribute, _need in wanted]
    attributes = {str(a.get("name")): a for a in listed if isinstance(a, dict) and a.get("object") == "Ticket"} \
        if isinstance(listed, list) else {}
    return [_listed(key, attribute, need, attributes.get(attribute) or attributes.get(f"{attribute}_id"),
                    adapter.section.severities) for key, attribute, need in wanted]


def _listed(key: str, attribute: str, need: str, found: Mapping[str, Any] | None,
            severities: Mapping[str, str]) -> Check:
    if found is None:
        return Check("attribute", attribute, False, f"Zammad has no ticket attribute {attribute!r} ({key}): create"
                     " it in Admin > System > Objects > Ticket, update the database and restart Zammad")
    if found.get("to_create") or found.get("to_migrate"):
        return Check("attribute", attribute, False, f"{attribute!r} is created but the database is not updated:"
                     " click Update database in Admin > System > Objects, then restart Zammad")
    if found.get("active") is False:
        return Check("attribute", attribute, False, f"{attribute!r} is inactive ({key})")
    data_type = str(found.get("data_type"))
    option = found.get("data_option")
    if not isinstance(option, Mapping):
        option = {}
    what = f"{found.get('display') or attribute} ({data_type})"
    if need in ("deadline", "date & time") and data_type != "datetime":
        return Check("attribute", attribute, False, f"{what} ({key}): it must be a Date & Time attribute, not"
                     f" {data_type!r}")
    if need == "deadline" and not (option.get("past") and option.get("future")):
        return Check("attribute", attribute, False, f"{what} ({key}) must allow both past and future dates"
                     " (Admin > System > Objects), or writing a passed deadline fails")
    if need == "severity" and data_type in ("select", "tree_select", "multiselect", "multi_tree_select"):
        values = set(_option_values(option.get("options")))
        missing = [s for s in severities if s not in values]
        if missing:
            return Check("attribute", attribute, False, f"{what} has no option {', '.join(map(repr, missing))}"
                         f" named in the severities (options: {', '.join(sorted(values))})")
    return Check("attribute", attribute, True, what)


def _option_values(options: Any) -> Iterable[str]:
    """A select's keys (``{key: label}``), or a tree select's values (``[{name, value, children}]``)."""
    if isinstance(options, Mapping):
        yield from (str(k) for k in options)
    elif isinstance(options, list):
        for item in options:
            if isinstance(item, Mapping):
                if item.get("value") is not None:
                    yield str(item["value"])
                yield from _option_values(item.get("children"))


def _on_sample(key: str, attribute: str, need: str, sample: Mapping[str, Any] | None) -> Check:
    """Without admin.object: look for the attribute on a ticket (the JSON carries every attribute)."""
    if sample is None:
        return Check("attribute", attribute, True, f"not verified ({key}): listing attributes needs admin.object,"
                     " and no ticket is visible to look for it")
    number = sample.get("number") or sample.get("id")
    if attribute not in sample and f"{attribute}_id" not in sample:
        return Check("attribute", attribute, False, f"ticket {number} has no attribute {attribute!r} ({key}): create"
                     " it in Admin > System > Objects > Ticket, update the database and restart Zammad")
    value = sample.get(attribute)
    if need in ("deadline", "date & time") and isinstance(value, str) and "T" not in value:
        return Check("attribute", attribute, False, f"{attribute!r} holds {value!r} on ticket {number}, a date"
                     f" without a time ({key}): it must be a Date & Time attribute")
    return Check("attribute", attribute, True, f"found on ticket {number}; not verified: its type and options"
                 " (listing attributes needs admin.object)")
