"""The configuration file's sections as strict pydantic models (unknown keys refused).

Each model validates its own values (durations with units, opening hours, identity
patterns, time zones); ``build`` compiles them into the engine's frozen values.
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ..calendar import Interval
from ..contracts import DEFAULT as DEFAULT_CONTRACT
from ..identity import IdentityPattern, parse_pattern
from ..policy import (
    AcknowledgedBy, CatchUp, Clock, Duration, Entitlement, OnManualChange, ResolutionKind, Scope, StatusRole,
    parse_duration,
)
from ..secrets import SecretRef
from ..store.location import check_server_url, is_server_url

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    return parse_duration(value)


def _optional_duration(value: Any) -> Duration | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "nc")):
        return None
    return _duration(value)


def _interval(value: Any) -> Interval:
    """"09:00-18:00"; "24:00" ends at midnight (so "00:00-24:00" is a whole day)."""
    if isinstance(value, Interval):
        return value
    try:
        start_text, end_text = (part.strip() for part in str(value).split("-"))
        start = time.fromisoformat(start_text)
        end = time(0) if end_text == "24:00" else time.fromisoformat(end_text)
    except ValueError:
        raise ValueError(f'expected opening hours like "09:00-18:00", got {value!r}') from None
    if end != time(0) and start >= end:
        raise ValueError(f"opening hours {value!r} end before they start")
    return Interval(start, end)


def _identity(value: Any) -> IdentityPattern:
    if isinstance(value, IdentityPattern):
        return value
    return parse_pattern(value)


DurationField = Annotated[Duration, BeforeValidator(_duration)]
IdentityField = Annotated[IdentityPattern, BeforeValidator(_identity)]
OptionalDurationField = Annotated[Duration | None, BeforeValidator(_optional_duration)]
IntervalField = Annotated[Interval, BeforeValidator(_interval)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class ContractSection(_Strict):
    name: str = "support contract"
    reference: str = ""


class CalendarSection(_Strict):
    timezone: str = "Europe/Paris"
    country: str | None = "FR"
    subdivision: str | None = None
    hours: dict[Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
                list[IntervalField]]
    closed_dates: list[date] = []
    open_dates: list[date] = []
    date_hours: dict[date, list[IntervalField]] = {}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f'unknown IANA time zone {value!r} (e.g. "Europe/Paris")') from None
        return value


class SeveritySection(_Strict):
    name: str
    acknowledge: OptionalDurationField
    workaround: OptionalDurationField
    resolution: str
    reminders: list[DurationField] = Field(min_length=1)

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, value: str) -> str:
        if value.strip().lower() in ("none", "nc", ResolutionKind.NEXT_MINOR_RELEASE.value):
            return value.strip().lower()
        parse_duration(value)
        return value


class ClocksSection(_Strict):
    acknowledged_by: list[AcknowledgedBy] = Field(
        default=[AcknowledgedBy.AGENT_PUBLIC_COMMENT, AcknowledgedBy.STATUS_CHANGE], min_length=1)
    at_risk_threshold: float = Field(default=0.75, gt=0, lt=1)
    paused_by: dict[Clock, list[StatusRole]] = {
        clock: [StatusRole.WAITING_FOR_CUSTOMER] for clock in Clock}
    workaround_labels: list[str] = []
    definitive_workaround_labels: list[str] = []
    # A tracker field (named in [trackers.<name>.fields]) whose value marks the workaround:
    # e.g. workaround_fields = { workaround = ["provisional", "definitive"] }.
    workaround_fields: dict[str, list[str]] = {}
    definitive_workaround_fields: dict[str, list[str]] = {}


class WaitingSection(_Strict):
    auto_close_after: DurationField = parse_duration("1d")


def _folded(names: list[str]) -> frozenset[str]:
    """Names people type in trackers are compared case-insensitively."""
    return frozenset(n.casefold() for n in names)


def _pairs(fields: Mapping[str, list[str]]) -> frozenset[tuple[str, str]]:
    return frozenset((name.casefold(), v.casefold()) for name, values in fields.items() for v in values)



class EntitlementSection(_Strict):
    """Who may open tickets: identity patterns (``login:``, ``email:``, ``group:``, ...)."""

    reporters: list[IdentityField] = []
    groups: list[str] = []  # the same as "group:<name>" in reporters

    def compile(self) -> Entitlement:
        return Entitlement(tuple(self.reporters) + tuple(parse_pattern(f"group:{g}") for g in self.groups))


class ScopeSection(_Strict):
    out_of_scope_types: list[str] = []
    out_of_scope_labels: list[str] = []
    out_of_scope_fields: dict[str, list[str]] = {}  # tracker field (see [trackers.<name>.fields]) -> values

    def compile(self) -> Scope:
        return Scope(_folded(self.out_of_scope_types), _folded(self.out_of_scope_labels),
                     _pairs(self.out_of_scope_fields))


class LabelsSection(_Strict):
    prefix: str = Field(default="sla-", min_length=1)
    at_risk: str = "sla-a-risque"
    breached: dict[Clock, str] = {
        Clock.ACKNOWLEDGE: "sla-depasse-prise-en-compte",
        Clock.WORKAROUND: "sla-depasse-contournement",
        Clock.RESOLUTION: "sla-depasse-resolution",
    }
    not_entitled: str = "sla-non-eligible"
    out_of_scope: str = "sla-hors-perimetre"
    unknown_severity: str = "sla-criticite-inconnue"
    missing_fix_version: str = "sla-version-manquante"
    severity: dict[str, str] = {}

    @model_validator(mode="after")
    def _prefixed(self) -> "LabelsSection":
        # Only prefixed labels are ever removed from a ticket: an unprefixed SLA
        # label could never be taken off again.
        names = [self.at_risk, self.not_entitled, self.out_of_scope, self.unknown_severity,
                 self.missing_fix_version, *self.breached.values(), *self.severity.values()]
        bad = [n for n in names if not n.startswith(self.prefix)]
        if bad:
            raise ValueError(f"every SLA label must start with the prefix {self.prefix!r}; these do not: {bad}")
        missing = [c.value for c in Clock if c not in self.breached]
        if missing:
            raise ValueError(f"breached needs a label for every clock; missing: {missing}")
        return self


class TemplatesSection(_Strict):
    language: Literal["fr", "en"] = "fr"
    reminder: str | None = None
    closure: str | None = None


class StatusesSection(_Strict):
    """Which tracker statuses mean what to the contract (names, case-insensitive)."""

    new: list[str] = []
    in_progress: list[str] = []
    waiting_for_customer: list[str] = []
    workaround_delivered: list[str] = []
    resolved: list[str] = []
    closed: list[str] = []

    def roles(self) -> dict[str, StatusRole]:
        mapping: dict[str, StatusRole] = {}
        for role in StatusRole:
            for name in getattr(self, role.value):
                if name.casefold() in mapping and mapping[name.casefold()] is not role:
                    raise ValueError(f"status {name!r} is mapped to both {mapping[name.casefold()]} and {role}")
                mapping[name.casefold()] = role
        return mapping


DEFAULT_STATUSES = StatusesSection(
    new=["new"], in_progress=["in_progress"], waiting_for_customer=["waiting_for_customer"],
    workaround_delivered=["workaround_delivered"], resolved=["resolved"], closed=["closed"])


class CustomerSection(_Strict):
    """One customer of a tracker serving several: which tickets are theirs, and their rules."""

    projects: list[str] = []
    organisations: list[str] = []
    entitlement: EntitlementSection | None = None
    scope: ScopeSection | None = None
    contract: str | None = None  # a [contracts.<key>] (or "default"); none: the tracker's

    @model_validator(mode="after")
    def _selects(self) -> "CustomerSection":
        if not self.projects and not self.organisations:
            raise ValueError("a customer needs projects = [...] or organisations = [...] to select its tickets")
        return self


class TrackerSection(_Strict):
    """One tracker instance. ``options`` belong to its adapter, which validates them."""

    adapter: str
    statuses: StatusesSection
    severities: dict[str, str] = {}
    # Who is support staff: identity patterns; anyone else is the customer.
    agents: list[IdentityField] = Field(default=[], validate_default=True)
    closing_status: str | None = None
    comment_visibility: Literal["public", "internal"] = "public"
    poll_interval_seconds: int = Field(default=300, ge=10)
    workers: int | None = Field(default=None, ge=1, le=32)  # this tracker's; default [sync] workers
    # Tracker fields read into the model: a name used by the scope and clocks sections
    # (or "reported_at") -> the tracker's field (adapter-specific: a name or an id).
    fields: dict[str, str | int] = {}
    entitlement: EntitlementSection | None = None
    scope: ScopeSection | None = None
    customers: dict[str, CustomerSection] = {}
    contract: str | None = None  # a [contracts.<key>] (or "default"); none: the top-level sections
    options: dict[str, Any] = {}

    @field_validator("agents")
    @classmethod
    def _some_agents(cls, value: list[IdentityPattern]) -> list[IdentityPattern]:
        if not value:
            # With no agents every reply would count as the customer's: reminders
            # would restart forever and nothing would be acknowledged.
            raise ValueError('no agents: name the support staff, e.g. agents = ["group:support"] or'
                             ' ["login:sam", "role:Support"] (Jira: "type:atlassian")')
        return value


def _store(value: Any) -> Any:
    """A SQLite file (relative to the configuration file), or a PostgreSQL URL without a password."""
    if isinstance(value, str) and is_server_url(value):
        return check_server_url(value)
    if not isinstance(value, (str, Path)):
        raise ValueError('expected a file name, like "sla-bridge.sqlite", or a URL, like "postgresql://user@host/db"')
    return Path(value)


class SyncSection(_Strict):
    """How the sync runs: where its state lives, and what to do when a person edits our fields."""

    store: Annotated[Path | str, BeforeValidator(_store)] = Path("sla-bridge.sqlite")  # str: a PostgreSQL URL
    store_password: SecretRef | None = None  # a PostgreSQL store's password: never in its URL
    overlap_seconds: int = Field(default=120, ge=0)
    # Tickets worked on at once per tracker: requests overlap the tracker's latency. Never
    # two workers on one ticket; the tracker's rate limits are shared by all of them. 10 is
    # the connections requests keeps open per host: more would open and drop connections.
    workers: int = Field(default=10, ge=1, le=32)
    on_manual_change: OnManualChange = OnManualChange.OVERWRITE
    catch_up: CatchUp = CatchUp.COLLAPSE
    # `serve` replicas on one store: a tracker is polled by the replica holding its lease,
    # renewed every third of this; a dead replica's trackers are taken over within it.
    lease_seconds: int = Field(default=30, ge=2, le=3600)

    @model_validator(mode="after")
    def _password_for_a_server_only(self) -> "SyncSection":
        if self.store_password is not None and not isinstance(self.store, str):
            raise ValueError('store_password is for a PostgreSQL store (store = "postgresql://user@host/db");'
                             " a SQLite file has none")
        return self


class WebhookSection(_Strict):
    """``[http.webhooks.<tracker>]``: how that tracker's webhook deliveries are authenticated.

    A secret is required: an unsigned webhook lets anyone on the network make
    sla-bridge read (and write) a ticket. Only an explicit ``insecure_unsigned = true``
    accepts deliveries without one (a tracker that cannot sign, on a trusted network).
    """

    secret: SecretRef | None = None
    insecure_unsigned: bool = False

    @model_validator(mode="after")
    def _signed_or_explicitly_not(self) -> "WebhookSection":
        if self.secret is None and not self.insecure_unsigned:
            raise ValueError('a webhook needs secret = { env = "VARIABLE" } (or { file = "..." }), the secret'
                             " the tracker signs its deliveries with; insecure_unsigned = true accepts unsigned"
                             " ones, on a trusted network only")
        if self.secret is not None and self.insecure_unsigned:
            raise ValueError("give either secret or insecure_unsigned = true, not both")
        return self


def _listen(value: Any) -> str:
    """``"127.0.0.1:8080"``, ``"[::1]:8080"`` or ``"0.0.0.0:8080"``: a host and a port."""
    text = str(value).strip()
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f'expected a host and a port like "127.0.0.1:8080", got {value!r}')
    return text


class HttpSection(_Strict):
    """``[http]``: the service's HTTP face (webhooks, /metrics, /healthz, /readyz, the status page).

    Off unless enabled; on loopback unless told otherwise, since the status page shows
    ticket titles.
    """

    enabled: bool = False
    listen: Annotated[str, BeforeValidator(_listen)] = "127.0.0.1:8080"
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    # Ready when every tracker had a complete pass this recently; default: three of its poll intervals.
    ready_within_seconds: int | None = Field(default=None, ge=10)
    token: SecretRef | None = None  # asked of the status page, explain and /metrics when set
    refresh_seconds: int = Field(default=60, ge=5)
    queue_size: int = Field(default=1000, ge=1, le=100_000)  # distinct tickets waiting for their sync
    threads: int = Field(default=4, ge=1, le=64)
    webhooks: dict[str, WebhookSection] = {}

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].removeprefix("[").removesuffix("]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class ContractDefinition(_Strict):
    """``[contracts.<key>]``: another contract of the same deployment (another customer's annex).

    Each section it gives replaces the top-level one as a whole; a section it leaves
    out is the top-level one (the contract ``default``). Labels, statuses and the sync
    are the deployment's, shared by every contract.
    """

    name: str | None = None  # its title; default: its key
    reference: str = ""
    calendar: CalendarSection | None = None
    severities: dict[str, SeveritySection] | None = None
    clocks: ClocksSection | None = None
    waiting: WaitingSection | None = None
    entitlement: EntitlementSection | None = None
    scope: ScopeSection | None = None
    templates: TemplatesSection | None = None

    @field_validator("severities")
    @classmethod
    def _some_severities(cls, value: dict[str, SeveritySection] | None) -> dict[str, SeveritySection] | None:
        if value is not None and not value:
            raise ValueError("no severity: give at least one, or leave the section out to use the top-level ones")
        return value


CONTRACT_SECTIONS = ("calendar", "severities", "clocks", "waiting", "entitlement", "scope", "templates")


class ConfigFile(_Strict):
    contract: ContractSection = ContractSection()
    calendar: CalendarSection
    severities: dict[str, SeveritySection] = Field(min_length=1)
    clocks: ClocksSection = ClocksSection()
    waiting: WaitingSection = WaitingSection()
    entitlement: EntitlementSection = EntitlementSection()
    scope: ScopeSection = ScopeSection()
    labels: LabelsSection = LabelsSection()
    templates: TemplatesSection = TemplatesSection()
    statuses: StatusesSection = DEFAULT_STATUSES
    trackers: dict[str, TrackerSection] = {}
    sync: SyncSection = SyncSection()
    http: HttpSection = HttpSection()
    contracts: dict[str, ContractDefinition] = {}

    @model_validator(mode="after")
    def _references(self) -> "ConfigFile":
        if DEFAULT_CONTRACT in self.contracts:
            raise ValueError(f"contracts.{DEFAULT_CONTRACT}: the top-level sections are the contract named"
                             f" {DEFAULT_CONTRACT!r}; give this one another name")
        # A tracker's severity mapping is checked against the contracts it serves (check_contracts).
        known = set(self.severities).union(*(c.severities or {} for c in self.contracts.values()))
        unknown = sorted(set(self.labels.severity) - known)
        if unknown:
            raise ValueError(f"labels.severity names unknown severity {unknown[0]!r}; defined: {sorted(known)}")
        return self
