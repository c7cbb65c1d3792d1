"""Load the contract from a TOML file, validate all of it, and build the Policy.

Validation is pydantic's (strict models, unknown keys refused); this module only
turns its errors into messages that name the file, the key path and what was
expected, and raises ``ConfigError`` (exit code 2) before anything else runs.
Secrets are references to an environment variable or a file, never values.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator,
)

from .calendar import BusinessCalendar, Interval
from .errors import ConfigError
from .identity import IdentityPattern, parse_pattern
from .policy import (
    AcknowledgedBy, CatchUp, Clock, CustomerRules, Duration, Entitlement, Labels, OnManualChange, Policy,
    ResolutionKind, Scope, SeverityPolicy, StatusMap, StatusRole, Template, TrackerRules, parse_duration,
)
from .secrets import SecretRef
from .templates import DEFAULT_TEMPLATES

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


class SyncSection(_Strict):
    """How the sync runs: where its state lives, and what to do when a person edits our fields."""

    store: Path = Path("sla-bridge.sqlite")
    overlap_seconds: int = Field(default=120, ge=0)
    # Tickets worked on at once per tracker: requests overlap the tracker's latency. Never
    # two workers on one ticket; the tracker's rate limits are shared by all of them. 10 is
    # the connections requests keeps open per host: more would open and drop connections.
    workers: int = Field(default=10, ge=1, le=32)
    on_manual_change: OnManualChange = OnManualChange.OVERWRITE
    catch_up: CatchUp = CatchUp.COLLAPSE


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

    @model_validator(mode="after")
    def _references(self) -> "ConfigFile":
        known = set(self.severities)
        for name, tracker in self.trackers.items():
            unknown = sorted(set(tracker.severities.values()) - known)
            if unknown:
                raise ValueError(f"trackers.{name}.severities maps to unknown severity {unknown[0]!r};"
                                 f" defined severities: {sorted(known)}")
        unknown = sorted(set(self.labels.severity) - known)
        if unknown:
            raise ValueError(f"labels.severity names unknown severity {unknown[0]!r}; defined: {sorted(known)}")
        return self


@dataclass(frozen=True)
class Config:
    """A loaded configuration: the policy and calendar the engine needs, and the raw sections."""

    path: Path
    file: ConfigFile
    policy: Policy
    calendar: BusinessCalendar

    @property
    def store_path(self) -> Path:
        """The store's path; a relative one is relative to the configuration file."""
        store = self.file.sync.store
        return store if store.is_absolute() else self.path.parent / store


def _format_errors(path: Path, error: ValidationError, prefix: str = "") -> str:
    lines = []
    for item in error.errors():
        loc = ".".join([prefix] * bool(prefix) + [str(part) for part in item["loc"]
                                                  if not str(part).startswith("function-")])
        message = item["msg"].removeprefix("Value error, ")
        kind = item["type"]
        if kind == "extra_forbidden":
            message = "unknown key"
        elif kind == "missing":
            message = "required key is missing"
        elif "input" in item and kind not in ("value_error",):
            message = f"{message} (got {item['input']!r})"
        lines.append(f"{path}: {loc or '(top level)'}: {message}")
    return "\n".join(lines)


M = TypeVar("M", bound=BaseModel)


def adapter_options(model: type[M], config: Config, name: str, section: TrackerSection) -> M:
    """An adapter's ``[trackers.<name>.options]``, validated by its own model, errors like the file's."""
    try:
        return model.model_validate(section.options, context={"base": config.path.parent})
    except ValidationError as exc:
        raise ConfigError(_format_errors(config.path, exc, f"trackers.{name}.options")) from None


def load_config(path: str | Path) -> Config:
    """Read, validate and compile a configuration file; raise ConfigError on any problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return config_from_mapping(raw, path)


def config_from_mapping(raw: Mapping[str, Any], path: Path = Path("<config>")) -> Config:
    try:
        file = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
    try:
        calendar = build_calendar(file.calendar)
    except ValueError as exc:
        raise ConfigError(f"{path}: calendar: {exc}") from None
    try:
        policy = build_policy(file)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return Config(path, file, policy, calendar)


def describe_calendar(section: CalendarSection) -> str:
    """One line a person can check against the contract's calendar clause."""
    days = "; ".join(f"{day[:3]} {' '.join(f'{i.start:%H:%M}-{i.end:%H:%M}' for i in hours) or 'closed'}"
                     for day, hours in section.hours.items())
    holidays = f"public holidays {section.country}" + (f"-{section.subdivision}" if section.subdivision else "") \
        if section.country else "no public holidays"
    extra = []
    if section.closed_dates:
        extra.append(f"closed {', '.join(d.isoformat() for d in section.closed_dates)}")
    if section.open_dates:
        extra.append(f"open {', '.join(d.isoformat() for d in section.open_dates)}")
    if section.date_hours:
        extra.append(f"{len(section.date_hours)} dates with own hours")
    return f"{days}; {section.timezone}; {holidays}" + ("; " + "; ".join(extra) if extra else "")


def build_calendar(section: CalendarSection) -> BusinessCalendar:
    return BusinessCalendar(
        weekly={WEEKDAYS.index(day): tuple(intervals) for day, intervals in section.hours.items()},
        timezone=section.timezone,
        country=section.country or None,
        subdivision=section.subdivision or None,
        closed_dates=section.closed_dates,
        open_dates=section.open_dates,
        date_hours={d: tuple(i) for d, i in section.date_hours.items()},
    )


def _severity_policy(key: str, section: SeveritySection) -> SeverityPolicy:
    kind, resolution = ResolutionKind.TIMED, None
    if section.resolution == ResolutionKind.NEXT_MINOR_RELEASE.value:
        kind = ResolutionKind.NEXT_MINOR_RELEASE
    elif section.resolution not in ("none", "nc"):
        resolution = parse_duration(section.resolution)
    return SeverityPolicy(key, section.name, section.acknowledge, section.workaround, resolution, kind,
                          tuple(section.reminders))


def _status_map(statuses: StatusesSection, severities: Mapping[str, str], where: str) -> StatusMap:
    try:
        roles = statuses.roles()
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return StatusMap(roles, {value.casefold(): key for value, key in severities.items()})


def _folded(names: list[str]) -> frozenset[str]:
    """Names people type in trackers are compared case-insensitively."""
    return frozenset(n.casefold() for n in names)


def _pairs(fields: Mapping[str, list[str]]) -> frozenset[tuple[str, str]]:
    return frozenset((name.casefold(), v.casefold()) for name, values in fields.items() for v in values)


def _tracker_rules(file: "ConfigFile", t: TrackerSection) -> TrackerRules:
    entitlement = (t.entitlement or file.entitlement).compile()
    scope = (t.scope or file.scope).compile()
    customers = tuple(
        CustomerRules(name, _folded(c.projects), _folded(c.organisations),
                      c.entitlement.compile() if c.entitlement else entitlement,
                      c.scope.compile() if c.scope else scope)
        for name, c in t.customers.items())
    return TrackerRules(entitlement, scope, customers)


def build_policy(file: ConfigFile) -> Policy:
    lang = DEFAULT_TEMPLATES[file.templates.language]
    templates = {}
    for kind in ("reminder", "closure"):
        text = getattr(file.templates, kind) or lang[kind]
        try:
            templates[kind] = Template(kind, text)
        except ValueError as exc:
            raise ValueError(f"templates.{kind}: {exc}") from None
    identity = {key: key for key in file.severities}
    return Policy(
        severities={key: _severity_policy(key, s) for key, s in file.severities.items()},
        paused_by={clock: frozenset(roles) for clock, roles in file.clocks.paused_by.items()},
        acknowledged_by=frozenset(file.clocks.acknowledged_by),
        at_risk_threshold=file.clocks.at_risk_threshold,
        workaround_labels=_folded(file.clocks.workaround_labels),
        definitive_workaround_labels=_folded(file.clocks.definitive_workaround_labels),
        auto_close_after=file.waiting.auto_close_after,
        entitlement=file.entitlement.compile(),
        scope=file.scope.compile(),
        labels=Labels(file.labels.prefix, file.labels.at_risk, dict(file.labels.breached), file.labels.not_entitled,
                      file.labels.out_of_scope, file.labels.unknown_severity, file.labels.missing_fix_version,
                      dict(file.labels.severity)),
        reminder_template=templates["reminder"],
        closure_template=templates["closure"],
        default_statuses=_status_map(file.statuses, identity, "statuses"),
        trackers={name: _status_map(t.statuses, {**identity, **t.severities}, f"trackers.{name}.statuses")
                  for name, t in file.trackers.items()},
        tracker_rules={name: _tracker_rules(file, t) for name, t in file.trackers.items()},
        workaround_fields=_pairs(file.clocks.workaround_fields),
        definitive_workaround_fields=_pairs(file.clocks.definitive_workaround_fields),
        catch_up=file.sync.catch_up,
    )
