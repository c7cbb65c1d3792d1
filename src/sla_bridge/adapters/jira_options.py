"""The Jira adapter's options (``[trackers.<name>.options]``) and what it reads from its section.

``JiraOptions`` validates the options when the adapter is built (``check-config`` builds
adapters without sending anything); ``configured_fields`` turns ``[trackers.<name>.fields]``
into Jira field ids, and says which one holds when the customer reported the anomaly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import ConfigError
from ..identity import IdentityKind, IdentityPattern
from ..secrets import SecretRef
from .jira_values import CUSTOM_FIELD, field_id

if TYPE_CHECKING:
    from ..config import Config, TrackerSection

REPORTED_AT = "reported_at"  # the [fields] name whose field says when the customer reported the anomaly


class JiraOptions(BaseModel):
    """``[trackers.<name>.options]`` for ``adapter = "jira"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    deployment: Literal["cloud", "datacenter", "auto"] = "auto"
    email: str | None = None          # Cloud: the account's e-mail, with api_token
    api_token: SecretRef | None = None
    token: SecretRef | None = None    # Data Center: a personal access token (Bearer)
    projects: list[str] = Field(min_length=1)  # project keys; Cloud's search needs a bounded query
    severity_field: str = "priority"  # "priority" or a custom field id ("customfield_10042")
    # A Date Time Picker custom field id for the exact deadline. Without it only Jira's duedate
    # (a date) is written, and the sync compares dates.
    deadline_field: str | None = None
    resolution: str | None = "Done"   # set when a closing (or resolving) transition's screen has a resolution
    # Jira Service Management's "Organizations" field (customfield_NNNNN): its organisations are the
    # reporter's, matched by org: patterns and [trackers.<name>.customers.<c>] organisations.
    organizations_field: str | None = None
    jql_extra: str | None = None      # ANDed to the change query, e.g. 'issuetype != Epic'
    api_user_timezone: str | None = None  # JQL times are read in this zone; default: from /myself
    page_size: int = Field(default=100, ge=1, le=1000)
    notify_users: bool = False        # false: writes send notifyUsers=false where Jira allows it
    timeout_seconds: float = Field(default=30, gt=0)
    retries: int = Field(default=4, ge=1, le=10)
    max_requests_per_second: float | None = Field(default=None, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"expected the site's address, like https://example.atlassian.net, got {value!r}")
        return value.rstrip("/")

    @field_validator("severity_field")
    @classmethod
    def _severity(cls, value: str) -> str:
        if value != "priority" and not CUSTOM_FIELD.match(value):
            raise ValueError(f'expected "priority" or a custom field id like "customfield_10042", got {value!r}')
        return value

    @field_validator("deadline_field", "organizations_field")
    @classmethod
    def _custom(cls, value: str | None) -> str | None:
        if value is not None and not CUSTOM_FIELD.match(value):
            raise ValueError(f'expected a custom field id like "customfield_10050", got {value!r}')
        return value

    @field_validator("api_user_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f'unknown IANA time zone {value!r} (e.g. "Europe/Paris")') from None
        return value

    @model_validator(mode="after")
    def _credentials(self) -> "JiraOptions":
        basic = self.email is not None or self.api_token is not None
        if basic and (self.email is None or self.api_token is None):
            raise ValueError("email and api_token go together (Jira Cloud)")
        if basic and self.token is not None:
            raise ValueError("give either email + api_token (Jira Cloud) or token (Data Center), not both")
        if not basic and self.token is None:
            raise ValueError("credentials are missing: email + api_token (Jira Cloud) or token (Data Center"
                             " personal access token)")
        if self.deployment == "cloud" and not basic:
            raise ValueError("Jira Cloud needs email + api_token (an API token from id.atlassian.com)")
        return self


def configured_fields(config: "Config", name: str, section: "TrackerSection"
                      ) -> tuple[dict[str, str], str | None]:
    """``[trackers.<name>.fields]`` as (casefolded name -> Jira field id), and the ``reported_at`` field."""
    found: dict[str, str] = {}
    reported_at = None
    for key, value in section.fields.items():
        fid = field_id(value)
        if fid is None:
            raise ConfigError(f"{config.path}: trackers.{name}.fields.{key}: expected a Jira field id like"
                              f' "customfield_10060" or "components" (see GET /rest/api/2/field), got {value!r}')
        if key.casefold() == REPORTED_AT:
            if not CUSTOM_FIELD.match(fid):
                raise ConfigError(f"{config.path}: trackers.{name}.fields.{key}: expected a Date Time Picker"
                                  f' custom field id like "customfield_10060", got {value!r}')
            reported_at = fid
        else:
            found[key.casefold()] = fid
    return found, reported_at


def names_groups(patterns: "tuple[IdentityPattern, ...] | list[IdentityPattern]") -> bool:
    return any(p.kind is IdentityKind.GROUP for p in patterns)

