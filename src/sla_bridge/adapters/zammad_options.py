"""The Zammad adapter's options (``[trackers.<name>.options]``) and the attributes its section names."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ConfigError
from ..secrets import SecretRef

if TYPE_CHECKING:
    from ..config import Config, TrackerSection

SEARCH_LIMIT = 200  # /tickets/search: paginate_with(max: 200); a bigger per_page is cut silently
LIST_LIMIT = 100    # /tickets: paginate_with(max: 100)
REPORTED_AT = "reported_at"  # the [trackers.<name>.fields] key read into Ticket.reported_at
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]*$")


class ZammadOptions(BaseModel):
    """``[trackers.<name>.options]`` for ``adapter = "zammad"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str                                   # https://support.example.com (with or without /api/v1)
    token: SecretRef                           # an agent's access token (ticket.agent)
    auth: Literal["token", "bearer"] = "token"  # "bearer" for an OAuth2 access token
    groups: list[str] = []                     # group names; empty: every group the token can read
    severity_field: str = "priority"           # "priority", or a ticket attribute name
    due_attribute: str                         # the datetime ticket attribute, e.g. "sla_due_at"
    type_attribute: str | None = None          # e.g. "type" (Zammad's built-in, inactive by default)
    fix_version_attribute: str | None = None   # a ticket attribute naming the fix version
    reminder_article: Literal["email", "note"] = "email"
    search: Literal["condition", "elasticsearch", "list"] = "condition"
    page_size: int = Field(default=100, ge=1, le=SEARCH_LIMIT)
    timeout_seconds: float = Field(default=30, gt=0)
    retries: int = Field(default=4, ge=1, le=10)
    user_cache_seconds: float = Field(default=3600, ge=0)  # how long a looked-up user is kept

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            credentials = parts.username is not None or parts.password is not None
        except ValueError:
            credentials = False
        if credentials:  # requests would send them instead of the token; never echoed: they are a secret
            raise ValueError("expected the Zammad URL without a user name or password (https://user:…@host):"
                             " the token authenticates; give the bare address, e.g. https://support.example.com")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected the Zammad URL, e.g. https://support.example.com, got {value!r}")
        return re.sub(r"/api/v1/?$", "", value.rstrip("/"))

    @field_validator("due_attribute", "type_attribute", "fix_version_attribute")
    @classmethod
    def _attribute_name(cls, value: str | None) -> str | None:
        if value is not None and not _ATTRIBUTE.match(value):
            raise ValueError(f"expected a Zammad attribute name (lower case, digits, _), got {value!r}")
        return value


def field_attributes(section: TrackerSection, config: Config, tracker: str) -> tuple[dict[str, str], str | None]:
    """``[trackers.<name>.fields]``: config name (casefolded) -> attribute, and the ``reported_at`` attribute."""
    fields: dict[str, str] = {}
    reported_at = None
    for key, attribute in section.fields.items():
        if not isinstance(attribute, str) or not _ATTRIBUTE.match(attribute):
            raise ConfigError(f"{config.path}: trackers.{tracker}.fields.{key}: expected the name of a Zammad ticket"
                              f" attribute (lower case, digits, _), e.g. \"category\", got {attribute!r}")
        if key.casefold() == REPORTED_AT:
            reported_at = attribute
        else:
            fields[key.casefold()] = attribute
    return fields, reported_at
