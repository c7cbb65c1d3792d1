"""The report's words in French and English (``[templates] language``), and number formats.

JSON keys and values stay in English whatever the language: they are for
machines. The HTML report and the CSV headers use these. Pure: no I/O.
"""

from __future__ import annotations

from typing import Mapping

TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "Service level compliance",
        "period": "Period", "from_to": "{start} to {end}", "generated": "Generated", "zone": "time zone",
        "filters": "Filters", "tracker": "Tracker", "customer": "Customer", "all": "all",
        "coverage": "What the store saw", "not_seen_banner": "The store never saw this period: no figures.",
        "complete": "complete", "partial": "partial", "not_seen": "not seen",
        "overall": "Overall", "per_customer": "Per customer", "severity": "Severity", "clock": "Commitment",
        "target": "Target", "ended": "Ended", "met": "Met", "breached": "Breached", "compliance": "Compliance",
        "running": "Still running", "stopped": "Stopped", "median": "Median (business h)",
        "p90": "90th percentile (business h)", "all_severities": "all severities", "na": "n/a",
        "acknowledge": "acknowledge", "workaround": "workaround", "resolution": "resolution",
        "state_met": "met", "state_breached": "breached", "state_running": "running", "state_paused": "paused",
        "state_at_risk": "at risk",
        "waiting": "Waiting for the customer", "reminder_n": "Reminder {n} sent", "auto_closed": "Closed automatically",
        "cycles_started": "Waiting cycles started", "restarted": "Cycles restarted by a customer answer",
        "breaches": "Breaches", "no_breach": "No breach in the period.", "ticket": "Ticket", "deadline": "Deadline",
        "breached_at": "Breached at", "stopped_at": "Stopped at", "late": "Late (business time)",
        "still_open": "still open at the period's end", "timeline": "Timeline", "why": "Why",
        "running_title": "Clocks still running at the period's end (not in the percentages)",
        "none": "None.", "state": "State", "remaining": "Remaining (business time)",
        "release": "Waiting for a minor release (no time target, no percentage)", "age_days": "Age (days)",
        "status": "Status", "fix_version": "Fix version", "missing": "none yet",
        "outside": "Requests outside the contract", "reporter": "Reporter", "created": "Created", "reason": "Reason",
        "not_entitled": "reporter not entitled (§1.3)", "out_of_scope": "out of scope (§1.3)",
        "unclassified": "Not counted (unknown severity)", "warnings": "Warnings",
        "chart_compliance": "Compliance per severity and commitment (%)",
        "chart_trend": "Met and breached per {unit}", "chart_ack": "Time to acknowledge (business hours)",
        "week": "week", "month": "month", "tickets": "tickets", "hours": "business hours",
        "counted": "Counted", "yes": "yes", "no": "no", "started": "Started", "decided": "Decided",
        "elapsed_h": "Business hours elapsed", "late_h": "Business hours late",
        "remaining_h": "Business hours remaining", "breached_under": "Breached under", "title_col": "Title",
        "outcome": "Outcome", "method": "How it is counted",
        "method_text": ("A commitment counts in the period in which its outcome was decided: met when it stopped in"
                        " time, breached when business time first ran past its deadline. Compliance = met / (met +"
                        " breached). Times are business hours counted by the contract (pauses excluded), for the"
                        " commitments stopped in the period."),
    },
    "fr": {
        "title": "Respect des engagements de service",
        "period": "Période", "from_to": "du {start} au {end}", "generated": "Généré le", "zone": "fuseau",
        "filters": "Filtres", "tracker": "Outil de suivi", "customer": "Client", "all": "tous",
        "coverage": "Ce que la base a vu", "not_seen_banner": "La base n'a jamais vu cette période : aucun chiffre.",
        "complete": "complète", "partial": "partielle", "not_seen": "non vue",
        "overall": "Ensemble", "per_customer": "Par client", "severity": "Criticité", "clock": "Engagement",
        "target": "Délai", "ended": "Terminés", "met": "Respectés", "breached": "Dépassés", "compliance": "Respect",
        "running": "En cours", "stopped": "Arrêtés", "median": "Médiane (h ouvrées)",
        "p90": "90e centile (h ouvrées)", "all_severities": "toutes criticités", "na": "n.d.",
        "acknowledge": "prise en compte", "workaround": "contournement", "resolution": "résolution",
        "state_met": "respecté", "state_breached": "dépassé", "state_running": "en cours",
        "state_paused": "en pause", "state_at_risk": "à risque",
        "waiting": "En attente du client", "reminder_n": "Relance {n} envoyée", "auto_closed": "Clôtures automatiques",
        "cycles_started": "Cycles d'attente commencés", "restarted": "Cycles relancés par une réponse du client",
        "breaches": "Dépassements", "no_breach": "Aucun dépassement sur la période.", "ticket": "Ticket",
        "deadline": "Échéance", "breached_at": "Dépassé le", "stopped_at": "Arrêté le",
        "late": "Retard (temps ouvré)", "still_open": "toujours ouvert en fin de période", "timeline": "Chronologie",
        "why": "Pourquoi", "running_title": "Délais encore en cours en fin de période (hors pourcentages)",
        "none": "Aucun.", "state": "État", "remaining": "Reste (temps ouvré)",
        "release": "En attente d'une version mineure (sans délai, sans pourcentage)", "age_days": "Âge (jours)",
        "status": "Statut", "fix_version": "Version corrective", "missing": "pas encore",
        "outside": "Demandes hors contrat", "reporter": "Demandeur", "created": "Créé le", "reason": "Motif",
        "not_entitled": "demandeur non habilité (§1.3)", "out_of_scope": "hors périmètre (§1.3)",
        "unclassified": "Non comptés (criticité inconnue)", "warnings": "Avertissements",
        "chart_compliance": "Respect par criticité et engagement (%)",
        "chart_trend": "Respectés et dépassés par {unit}", "chart_ack": "Délai de prise en compte (heures ouvrées)",
        "week": "semaine", "month": "mois", "tickets": "tickets", "hours": "heures ouvrées",
        "counted": "Compté", "yes": "oui", "no": "non", "started": "Début", "decided": "Décidé le",
        "elapsed_h": "Heures ouvrées écoulées", "late_h": "Heures ouvrées de retard",
        "remaining_h": "Heures ouvrées restantes", "breached_under": "Dépassé en criticité", "title_col": "Titre",
        "outcome": "Résultat", "method": "Mode de calcul",
        "method_text": ("Un engagement compte dans la période où son résultat a été acquis : respecté quand il s'est"
                        " arrêté dans les délais, dépassé dès que du temps ouvré a couru après son échéance. Respect"
                        " = respectés / (respectés + dépassés). Les délais sont en heures ouvrées comptées par le"
                        " contrat (pauses exclues), pour les engagements arrêtés dans la période."),
    },
}



def texts(language: str) -> Mapping[str, str]:
    return TEXTS.get(language, TEXTS["en"])


def number(value: float | int | None, language: str, decimals: int = 1, na: str | None = None) -> str:
    """``12.5`` or ``12,5`` (French); ``n/a`` for None."""
    if value is None:
        return na if na is not None else texts(language)["na"]
    text = f"{value:.{decimals}f}" if isinstance(value, float) else str(value)
    return text.replace(".", ",") if language == "fr" else text


def percent(value: float | None, language: str) -> str:
    """``66.7 %`` / ``66,7 %``; ``n/a`` when nothing ended: never a made-up 100 %."""
    return texts(language)["na"] if value is None else f"{number(value, language)} %"

