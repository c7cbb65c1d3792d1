"""Built-in comment templates, French first (the contract's language), English too.

Placeholders are ``$name`` (``string.Template``): see ``policy.TEMPLATE_FIELDS``.
"""

from __future__ import annotations

from typing import Mapping

DEFAULT_TEMPLATES: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "reminder": (
            "Bonjour,\n\n"
            "Le ticket $ticket « $title » est en attente de votre retour depuis le $waiting_since.\n"
            "Ceci est la relance $reminder sur $reminders. Sans réponse de votre part, le ticket sera"
            " automatiquement clôturé le $close_on (annexe 4, §1.4.2).\n\n"
            "Cordialement,\nLe Support"
        ),
        "closure": (
            "Bonjour,\n\n"
            "Sans réponse de votre part après $reminders relances, le ticket $ticket « $title » est"
            " clôturé automatiquement (annexe 4, §1.4.2). Vous pouvez ouvrir un nouveau ticket à tout moment.\n\n"
            "Cordialement,\nLe Support"
        ),
    },
    "en": {
        "reminder": (
            "Hello,\n\n"
            "Ticket $ticket \"$title\" has been waiting for your answer since $waiting_since.\n"
            "This is reminder $reminder of $reminders. Without an answer, the ticket will be closed"
            " automatically on $close_on (annex 4, §1.4.2).\n\n"
            "Best regards,\nSupport"
        ),
        "closure": (
            "Hello,\n\n"
            "With no answer after $reminders reminders, ticket $ticket \"$title\" is closed automatically"
            " (annex 4, §1.4.2). You may open a new ticket at any time.\n\n"
            "Best regards,\nSupport"
        ),
    },
}
