"""The status page and the explain page: Jinja2 templates, escaped, self-contained.

No script, no external asset (the Content-Security-Policy forbids both): inline
CSS only, readable on a phone (viewport, tables that scroll sideways, one column
under 40em). Every value from a tracker goes through Jinja's autoescape. Rows carry
``data-*`` attributes so a test in a browser can compare what is shown with the
store.
"""

from __future__ import annotations

import jinja2
from markupsafe import Markup

STYLE = """
:root { color-scheme: light dark; --muted: #666; --bad: #b00020; --warn: #9a6700; --line: #ccc; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; padding: 0.8em;
       max-width: 72em; }
h1 { font-size: 1.35em; margin: 0.2em 0; } h2 { font-size: 1.2em; margin: 1.4em 0 0.3em; }
h3 { font-size: 1em; margin: 1em 0 0.3em; }
.meta, .empty { color: var(--muted); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 0.3em 0; }
th, td { text-align: left; padding: 0.3em 0.5em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; white-space: nowrap; }
.breached, .bad { color: var(--bad); font-weight: 600; } .at_risk, .warn { color: var(--warn); }
.errors li { color: var(--bad); word-break: break-word; }
section.tracker { border-top: 2px solid var(--line); margin-top: 1em; }
a { color: inherit; }
@media (max-width: 40em) {
  body { font-size: 16px; padding: 0.5em; }
  table, thead, tbody, tr, th, td { display: block; }
  thead { display: none; }
  tr { border-bottom: 1px solid var(--line); padding: 0.3em 0; }
  td { border: 0; padding: 0.1em 0; }
  td::before { content: attr(data-label) ": "; color: var(--muted); }
}
"""

BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{% if refresh %}<meta http-equiv="refresh" content="{{ refresh }}">{% endif %}
<title>{% block title %}{% endblock %}</title>
<style>{{ style }}</style>
</head>
<body>
{% block body %}{% endblock %}
</body>
</html>
"""

TICKET = """{% macro ticket(r) -%}
{% if r.url %}<a href="{{ r.url }}" rel="noreferrer">{{ r.ticket_id }}</a>{% else %}{{ r.ticket_id }}{% endif %}
 <a href="{{ r.explain }}" class="explain">explain</a>
{%- endmacro %}
"""

STATUS = """{% extends "base.html" %}{% from "ticket.html" import ticket %}
{% block title %}sla-bridge status{% endblock %}
{% block body %}
<h1>{{ contract }} - sla-bridge</h1>
<p class="meta">As of {{ now }} ({{ zone }}); refreshed every {{ refresh }} s.</p>
{% if store_error %}<p class="bad" id="store-error">{{ store_error }}</p>{% endif %}
{% for t in trackers %}
<section class="tracker" id="tracker-{{ t.name }}" data-tracker="{{ t.name }}">
<h2>{{ t.name }} <span class="meta">({{ t.adapter }})</span></h2>
{% if t.last_pass %}
<p class="meta" data-last-pass="{{ t.last_pass.last_finished.isoformat() if t.last_pass.last_finished else '' }}">
Last pass ended {{ when(t.last_pass.last_finished) }}: {{ "complete" if t.last_pass.complete else "INCOMPLETE" }},
{{ t.last_pass.tickets_read }} tickets read,
{% if t.last_pass.applied %}{% for kind, n in t.last_pass.applied|dictsort %}{{ n }} {{ kind }}{{ ", " if not loop.last }}{% endfor %}{% else %}no change{% endif %};
last complete pass {{ t.last_complete }}.</p>
{% if t.last_pass.errors %}<ul class="errors">{% for e in t.last_pass.errors %}<li>{{ e }}</li>{% endfor %}</ul>{% endif %}
{% else %}<p class="meta">No pass yet.</p>{% endif %}
{% if t.lease %}<p class="meta" data-lease="{{ t.name }}">{{ t.lease }}</p>{% endif %}
{% for title, rows, kind in [("Breached", t.breached, "breached"), ("At risk", t.at_risk, "at_risk")] %}
<h3>{{ title }} <span class="meta">({{ rows|length }})</span></h3>
{% if rows %}<div class="scroll"><table class="{{ kind }}-table" data-list="{{ kind }}">
<thead><tr><th>ticket</th><th>deadline</th><th>severity</th><th>clocks</th><th>title</th></tr></thead><tbody>
{% for r in rows %}<tr data-ticket="{{ r.ticket_id }}" data-deadline="{{ r.deadline_iso }}">
<td data-label="ticket">{{ ticket(r) }}</td><td data-label="deadline" class="{{ kind }}">{{ r.deadline }}</td>
<td data-label="severity">{{ r.severity }}</td><td data-label="clocks">{{ r.clocks }}</td>
<td data-label="title">{{ r.title }}</td></tr>
{% endfor %}</tbody></table></div>{% else %}<p class="empty">none</p>{% endif %}
{% endfor %}
<h3>Next reminders and closures</h3>
{% if t.upcoming %}<div class="scroll"><table data-list="upcoming">
<thead><tr><th>when</th><th>ticket</th><th>what</th><th>title</th></tr></thead><tbody>
{% for u in t.upcoming %}<tr data-ticket="{{ u.ticket_id }}" data-when="{{ u.when_iso }}">
<td data-label="when">{{ u.when }}</td><td data-label="ticket">{{ ticket(u) }}</td>
<td data-label="what">{{ u.what }}</td><td data-label="title">{{ u.title }}</td></tr>
{% endfor %}</tbody></table></div>{% else %}<p class="empty">none</p>{% endif %}
{% if t.retries %}<h3>Retries</h3><ul class="errors">
{% for r in t.retries %}<li>{{ r.ticket_id }} at {{ r.when }} (attempt {{ r.attempts }}): {{ r.error }}</li>{% endfor %}
</ul>{% endif %}
</section>
{% endfor %}
{% endblock %}
"""

EXPLAIN = """{% extends "base.html" %}
{% block title %}{{ tracker }}:{{ ticket.id }} - sla-bridge explain{% endblock %}
{% block body %}
<p><a href="/">&larr; status</a></p>
<h1>{{ tracker }}:{{ ticket.id }} {{ ticket.title }}</h1>
<p class="meta">As of {{ now }}: severity {{ severity }}, status {{ status }}, due {{ due }}
{% if url %} - <a href="{{ url }}" rel="noreferrer">on the tracker</a>{% endif %}</p>
{% if labels %}<p class="meta">SLA labels: {{ labels|join(", ") }}</p>{% endif %}
<h2>Clocks</h2>
<div class="scroll"><table data-list="clocks"><thead><tr><th>clock</th><th>state</th><th>deadline</th><th>remaining</th>
<th>why</th></tr></thead><tbody>
{% for c in clocks %}<tr data-clock="{{ c.clock }}" data-state="{{ c.state_class }}">
<td data-label="clock">{{ c.clock }}</td><td data-label="state" class="{{ c.state_class }}">{{ c.state }}</td>
<td data-label="deadline">{{ c.deadline }}</td><td data-label="remaining">{{ c.remaining }}</td>
<td data-label="why">{% for w in c.why %}{{ w }}{% if not loop.last %}<br>{% endif %}{% endfor %}</td></tr>
{% endfor %}</tbody></table></div>
{% if cycles %}<h2>Waiting cycles</h2>
{% for cy in cycles %}<h3>From {{ cy.from }} ({{ cy.by }}) to {{ cy.to }}</h3><ul>
{% for r in cy.reminders %}<li>reminder {{ r.number }} at {{ r.at }}{% if r.note %} ({{ r.note }}){% endif %}</li>{% endfor %}
<li>automatic closure at {{ cy.auto_close }}</li></ul>
{% endfor %}{% endif %}
<h2>Timeline</h2>
<div class="scroll"><table data-list="timeline"><tbody>
{% for at, what in timeline %}<tr><td data-label="at">{{ at }}</td><td data-label="what">{{ what }}</td></tr>{% endfor %}
</tbody></table></div>
{% if warnings %}<h2>Warnings</h2><ul class="errors">{% for w in warnings %}<li>{{ w }}</li>{% endfor %}</ul>{% endif %}
{% endblock %}
"""


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.DictLoader({"base.html": BASE, "ticket.html": TICKET,
                                                       "status.html": STATUS, "explain.html": EXPLAIN}),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.globals["style"] = Markup(STYLE)  # our own constant CSS: escaping would break its quotes
    return env
