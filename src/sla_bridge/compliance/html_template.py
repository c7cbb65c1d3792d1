"""The HTML report's Jinja2 template (kept in a module so that it ships with the package)."""

TEMPLATE = """<!DOCTYPE html>
<html lang="{{ r.language }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="sla-bridge report">
<title>{{ w.title }} - {{ r.contract }} - {{ r.period.first_day }} / {{ r.period.last_day }}</title>
<style>
:root { --met: #2e7d32; --breached: #c62828; --muted: #666; --line: #ddd; }
body { font-family: "DejaVu Sans", "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 68rem; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1rem; margin-top: 1.2rem; }
.meta { color: var(--muted); margin: 0; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr[data-ticket] td, table.running td:not(:last-child), table.release td:not(:last-child),
table.outside td:not(:last-child) { white-space: nowrap; }
tr.all td { font-weight: bold; border-top: 2px solid #bbb; }
.met { color: var(--met); } .breached { color: var(--breached); font-weight: bold; }
.coverage-complete { color: var(--met); } .coverage-partial { color: #b26a00; }
.coverage-not_seen, .banner { color: var(--breached); font-weight: bold; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: 1rem;
          margin-top: 1rem; }
figure { margin: 0; min-width: 0; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { font-weight: bold; font-size: .9rem; margin-bottom: .3rem; }
details { margin: .3rem 0 .8rem 0; } summary { cursor: pointer; }
ol.timeline { font-size: .85rem; color: #333; margin: .3rem 0; }
.muted { color: var(--muted); }
@media print { details { display: block; } figure { break-inside: avoid; } }
</style>
</head>
<body>
<h1>{{ w.title }}</h1>
<p class="meta">{{ r.contract }}</p>
<p class="meta">{{ w.period }}: <span data-metric="period.from">{{ r.period.first_day }}</span> &rarr;
<span data-metric="period.to">{{ r.period.last_day }}</span> ({{ w.zone }} {{ r.zone }}) &middot;
{{ w.generated }} {{ r.generated_at | when }}
{% if r.tracker_filter or r.customer_filter %}&middot; {{ w.filters }}:
{% if r.tracker_filter %}{{ w.tracker }} {{ r.tracker_filter }} {% endif %}
{% if r.customer_filter %}{{ w.customer }} {{ r.customer_filter }}{% endif %}{% endif %}</p>

<h2>{{ w.coverage }}</h2>
<ul>
{% for c in r.coverage %}
<li>{{ c.tracker }}: <span class="coverage-{{ c.status.value }}" data-metric="coverage.{{ c.tracker }}.status"
data-value="{{ c.status.value }}">{{ w[c.status.value] }}</span>{% if c.note %} &mdash; {{ c.note }}{% endif %}</li>
{% endfor %}
</ul>
{% if not r.seen %}
<p class="banner">{{ w.not_seen_banner }}</p>
{% else %}
<div class="charts">
<figure id="chart-compliance"><figcaption>{{ w.chart_compliance }}</figcaption>{{ charts.compliance }}</figure>
<figure id="chart-trend"><figcaption>{{ w.chart_trend.format(unit=unit) }}</figcaption>{{ charts.trend }}</figure>
<figure id="chart-acknowledge"><figcaption>{{ w.chart_ack }}</figcaption>{{ charts.acknowledge }}</figure>
</div>

{% for path, title, g in groups %}
<h2>{% if path == "overall" %}{{ title }}{% else %}{{ w.customer }} {{ title }}{% endif %}</h2>
<table class="clocks">
<thead><tr><th>{{ w.severity }}</th><th>{{ w.clock }}</th><th>{{ w.target }}</th><th>{{ w.ended }}</th>
<th>{{ w.met }}</th><th>{{ w.breached }}</th><th>{{ w.compliance }}</th><th>{{ w.running }}</th>
<th>{{ w.median }}</th><th>{{ w.p90 }}</th></tr></thead>
<tbody>
{% for s in g.clocks %}
{% set m = path ~ ".clocks." ~ (s.severity or "all") ~ "." ~ s.clock.value %}
<tr{% if s.severity is none %} class="all"{% endif %}>
<td>{{ s.severity or w.all_severities }}</td><td>{{ w[s.clock.value] }}</td><td>{{ s.target or "" }}</td>
<td class="n" data-metric="{{ m }}.ended">{{ s.ended }}</td>
<td class="n met" data-metric="{{ m }}.met">{{ s.met }}</td>
<td class="n{% if s.breached %} breached{% endif %}" data-metric="{{ m }}.breached">{{ s.breached }}</td>
<td class="n" data-metric="{{ m }}.compliance">{{ s.compliance | pct }}</td>
<td class="n" data-metric="{{ m }}.running">{{ s.running }}</td>
<td class="n" data-metric="{{ m }}.median_hours">{{ s.median_hours | num }}</td>
<td class="n" data-metric="{{ m }}.p90_hours">{{ s.p90_hours | num }}</td>
</tr>
{% endfor %}
</tbody>
</table>
<h3>{{ w.waiting }}</h3>
<table class="waiting"><tbody>
{% for step, n in g.waiting.reminders %}
<tr><td>{{ w.reminder_n.format(n=step) }}</td>
<td class="n" data-metric="{{ path }}.waiting.reminders.{{ step }}">{{ n }}</td></tr>
{% endfor %}
<tr><td>{{ w.auto_closed }}</td><td class="n" data-metric="{{ path }}.waiting.auto_closed">{{ g.waiting.auto_closed }}</td></tr>
<tr><td>{{ w.cycles_started }}</td>
<td class="n" data-metric="{{ path }}.waiting.cycles_started">{{ g.waiting.cycles_started }}</td></tr>
<tr><td>{{ w.restarted }}</td>
<td class="n" data-metric="{{ path }}.waiting.restarted_by_customer">{{ g.waiting.restarted_by_customer }}</td></tr>
</tbody></table>
{% endfor %}

<h2>{{ w.breaches }} (<span data-metric="breaches.count">{{ r.breaches | length }}</span>)</h2>
{% if not r.breaches %}<p class="met">{{ w.no_breach }}</p>{% else %}
<table class="breaches">
<thead><tr><th>{{ w.ticket }}</th><th>{{ w.customer }}</th><th>{{ w.severity }}</th><th>{{ w.clock }}</th>
<th>{{ w.deadline }}</th><th>{{ w.breached_at }}</th><th>{{ w.late }}</th><th>{{ w.stopped_at }}</th></tr></thead>
<tbody>
{% for b in r.breaches %}
<tr data-ticket="{{ b.row.key }}" data-clock="{{ b.row.clock.value }}">
<td>{{ b.row.key }}</td><td>{{ b.row.customer }}</td>
<td>{{ b.row.severity }}{% if b.row.breached_under %} ({{ b.row.breached_under }}){% endif %}</td>
<td>{{ w[b.row.clock.value] }}</td><td>{{ b.row.deadline | when }}</td><td>{{ b.row.decided_at | when }}</td>
<td class="n breached">{{ b.row.late_minutes | dur }}</td>
<td>{% if b.still_open %}<span class="breached">{{ w.still_open }}</span>{% else %}{{ b.row.stopped_at | when }}{% endif %}</td>
</tr>
<tr><td colspan="8"><details><summary>{{ b.row.title }} &mdash; {{ w.timeline }}</summary>
<ol class="timeline">
{% for at, what in b.timeline %}<li><time>{{ at | when }}</time> {{ what }}</li>
{% endfor %}
</ol>
<ul>{% for line in b.why %}<li>{{ line }}</li>{% endfor %}</ul>
</details></td></tr>
{% endfor %}
</tbody></table>
{% endif %}

<h2>{{ w.running_title }} (<span data-metric="running.count">{{ running | length }}</span>)</h2>
{% if not running %}<p class="muted">{{ w.none }}</p>{% else %}
<table class="running"><thead><tr><th>{{ w.ticket }}</th><th>{{ w.severity }}</th><th>{{ w.clock }}</th>
<th>{{ w.state }}</th><th>{{ w.deadline }}</th><th>{{ w.remaining }}</th><th>{{ w.title_col }}</th></tr></thead>
<tbody>
{% for row in running %}
<tr><td>{{ row.key }}</td><td>{{ row.severity }}</td><td>{{ w[row.clock.value] }}</td><td>{{ w["state_" ~ row.state] }}</td>
<td>{{ row.deadline | when }}</td><td class="n">{{ row.remaining_minutes | dur }}</td><td>{{ row.title }}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}

<h2>{{ w.release }} (<span data-metric="awaiting_release.count">{{ r.awaiting_release | length }}</span>)</h2>
{% if not r.awaiting_release %}<p class="muted">{{ w.none }}</p>{% else %}
<table class="release"><thead><tr><th>{{ w.ticket }}</th><th>{{ w.customer }}</th><th>{{ w.severity }}</th>
<th>{{ w.age_days }}</th><th>{{ w.status }}</th><th>{{ w.fix_version }}</th><th>{{ w.title_col }}</th></tr></thead>
<tbody>
{% for a in r.awaiting_release %}
<tr><td>{{ a.key }}</td><td>{{ a.customer }}</td><td>{{ a.severity }}</td><td class="n">{{ a.age_days }}</td>
<td>{{ a.status }}</td><td>{{ a.fix_version or w.missing }}</td><td>{{ a.title }}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}

<h2>{{ w.outside }} (<span data-metric="out_of_contract.count">{{ r.out_of_contract | length }}</span>)</h2>
{% if not r.out_of_contract %}<p class="muted">{{ w.none }}</p>{% else %}
<table class="outside"><thead><tr><th>{{ w.ticket }}</th><th>{{ w.created }}</th><th>{{ w.reporter }}</th>
<th>{{ w.reason }}</th><th>{{ w.customer }}</th><th>{{ w.title_col }}</th></tr></thead>
<tbody>
{% for o in r.out_of_contract %}
<tr><td>{{ o.key }}</td><td>{{ o.created | when }}</td><td>{{ o.reporter }}</td><td>{{ w[o.reason] }}</td>
<td>{{ o.customer }}</td><td>{{ o.title }}</td></tr>
{% endfor %}
</tbody></table>
{% endif %}

{% if r.unclassified %}
<h2>{{ w.unclassified }}</h2>
<ul>{% for key, why in r.unclassified %}<li>{{ key }}: {{ why }}</li>{% endfor %}</ul>
{% endif %}
{% endif %}
{% if r.warnings %}
<h2>{{ w.warnings }}</h2>
<ul>{% for warning in r.warnings %}<li>{{ warning }}</li>{% endfor %}</ul>
{% endif %}
<h2>{{ w.method }}</h2>
<p class="muted">{{ w.method_text }}</p>
</body>
</html>
"""
