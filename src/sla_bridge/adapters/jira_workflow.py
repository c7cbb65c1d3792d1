"""The way to the closing status through a Jira workflow, and what each transition's screen needs.

Jira moves an issue only along its workflow's transitions, and the REST API lists only
the ones available from the issue's current status (``GET /issue/{key}/transitions``).
Jira Service Management's default workflow has no transition from *Waiting for
customer* to *Closed*: it goes through *Resolved*. So when no available transition leads
to the closing status, the adapter takes one step towards it and looks again:

- a step may go to a status mapped ``resolved`` in the tracker's ``statuses``, or to a
  status already seen to lead on to the closing status (the adapter remembers, per project
  and issue type, which targets each status offered);
- never back to a status already passed through, and at most ``MAX_STEPS`` steps;
- each screen gets the resolution it needs (``options.resolution``).

Pure: the adapter does the HTTP.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

log = logging.getLogger(__name__)

MAX_STEPS = 4  # Waiting -> Resolved -> Closed is two; beyond four, something loops


def target(transition: dict[str, Any]) -> str:
    """The name of the status a transition leads to ("" when Jira does not say)."""
    to = transition.get("to")
    name = to.get("name") if isinstance(to, dict) else None
    return name if isinstance(name, str) else ""


def offered(data: dict[str, Any], current: str | None = None) -> list[dict[str, Any]]:
    """The transitions the API user may take now (``isAvailable`` is Cloud's; a looped one goes nowhere).

    A transition without an id or a target status cannot be taken and is left out.
    """
    found = []
    listed = data.get("transitions")
    for transition in listed if isinstance(listed, list) else []:
        if not isinstance(transition, dict) or not isinstance(transition.get("id"), (str, int)) \
                or isinstance(transition.get("id"), bool):
            continue
        if transition.get("isAvailable", True) is False or not target(transition):
            continue
        if current is not None and target(transition).casefold() == current.casefold():
            continue
        found.append(transition)
    return found


@dataclass
class WorkflowMemory:
    """Which statuses each status was seen to lead to, per (project, issue type)."""

    edges: dict[tuple[str, str], dict[str, set[str]]] = field(default_factory=dict)

    def learn(self, scope: tuple[str, str], status: str, transitions: Iterable[dict[str, Any]]) -> None:
        seen = self.edges.setdefault(scope, {}).setdefault(status.casefold(), set())
        seen.update(target(t).casefold() for t in transitions)

    def distance(self, scope: tuple[str, str], start: str, goal: str) -> int | None:
        """Steps from ``start`` to ``goal`` along the transitions seen so far (None: no known way)."""
        graph = self.edges.get(scope, {})
        start, goal = start.casefold(), goal.casefold()
        queue, seen = deque([(start, 0)]), {start}
        while queue:
            status, steps = queue.popleft()
            if status == goal:
                return steps
            for nxt in graph.get(status, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append((nxt, steps + 1))
        return None


def next_steps(transitions: list[dict[str, Any]], goal: str, resolved: Iterable[str], visited: set[str],
               memory: WorkflowMemory, scope: tuple[str, str]) -> list[dict[str, Any]]:
    """The transitions worth taking towards ``goal`` when none reaches it: shortest known way first,
    then the statuses mapped ``resolved``, in the workflow's order."""
    mapped = {name.casefold() for name in resolved}
    ranked = []
    for order, transition in enumerate(transitions):
        to = target(transition).casefold()
        if to in visited or to == goal.casefold():
            continue
        known = memory.distance(scope, to, goal)
        if known is None and to not in mapped:
            continue  # never into a status that is not known to lead on (back to work, say)
        ranked.append(((known if known is not None else MAX_STEPS, to not in mapped, order), transition))
    return [transition for _, transition in sorted(ranked, key=lambda pair: pair[0])]


def screen_fields(transition: dict[str, Any], resolution: str | None, tracker: str
                  ) -> tuple[dict[str, Any], str | None]:
    """What to send with a transition (``expand=transitions.fields``), or why sla-bridge cannot take it."""
    fields: dict[str, Any] = {}
    name = transition.get("name", transition.get("id"))
    screen = transition.get("fields")
    for field_id, meta in (screen.items() if isinstance(screen, dict) else ()):
        if not isinstance(meta, dict):
            return {}, f"transition {name!r}: Jira describes its screen's field {field_id!r} in an unexpected form"
        required = bool(meta.get("required")) and not meta.get("hasDefaultValue")
        if field_id == "resolution":
            values = meta.get("allowedValues")
            allowed = [v["name"] for v in (values if isinstance(values, list) else [])
                       if isinstance(v, dict) and isinstance(v.get("name"), str) and v["name"]]
            if resolution and (not allowed or resolution.casefold() in (a.casefold() for a in allowed)):
                match = next((a for a in allowed if a.casefold() == resolution.casefold()), resolution)
                fields["resolution"] = {"name": match}
            elif required:
                return {}, (f"transition {name!r} needs a resolution; options.resolution is {resolution!r}, Jira"
                            f" offers: {', '.join(allowed) or 'none'}")
            elif resolution:
                # Closed without one, the issue stays "Unresolved" in Jira's filters and reports.
                log.warning("%s: transition %r does not offer the resolution %r (it offers: %s); going on"
                            " without one", tracker, name, resolution, ", ".join(allowed))
        elif required:
            return {}, (f"transition {name!r} requires the field {meta.get('name', field_id)!r}, which"
                        " sla-bridge cannot fill: make it optional or give it a default on that screen")
    return fields, None


def first_takeable(candidates: list[dict[str, Any]], resolution: str | None, tracker: str
                   ) -> tuple[dict[str, Any] | None, dict[str, Any], list[str]]:
    """The first candidate whose screen sla-bridge can fill, its fields, and why the others could not."""
    problems: list[str] = []
    for candidate in candidates:
        fields, problem = screen_fields(candidate, resolution, tracker)
        if problem is None:
            return candidate, fields, problems
        problems.append(problem)
    return None, {}, problems
