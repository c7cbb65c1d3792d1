"""Load the contract from a TOML file, validate all of it, and build the Policy.

Validation is pydantic's (strict models, unknown keys refused); this package only
turns its errors into messages that name the file, the key path and what was
expected, and raises ``ConfigError`` (exit code 2) before anything else runs.
Secrets are references to an environment variable or a file, never values.

``sections`` holds the TOML's models; ``build`` compiles them into each contract's
policy and calendar; this module loads a file and keeps the result in ``Config``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from ..calendar import BusinessCalendar
from ..contracts import Contract, Contracts
from ..errors import ConfigError
from ..policy import Policy
from ..store.location import PostgresLocation
from .build import (
    build_calendar, build_contracts, build_policy, check_contracts, contract_sections, describe_calendar,
)
from .sections import (
    CONTRACT_SECTIONS, DEFAULT_STATUSES, WEEKDAYS, CalendarSection, ClocksSection, ConfigFile, ContractDefinition,
    ContractSection, CustomerSection, DurationField, EntitlementSection, HttpSection, IdentityField, IntervalField,
    LabelsSection, OptionalDurationField, ScopeSection, SeveritySection, StatusesSection, SyncSection,
    TemplatesSection, TrackerSection, WaitingSection, WebhookSection,
)

if TYPE_CHECKING:
    from ..model import Ticket

__all__ = [
    "CONTRACT_SECTIONS", "DEFAULT_STATUSES", "WEEKDAYS", "CalendarSection", "ClocksSection", "Config", "ConfigFile",
    "ContractDefinition", "ContractSection", "CustomerSection", "DurationField", "EntitlementSection", "HttpSection",
    "IdentityField", "IntervalField", "LabelsSection", "OptionalDurationField", "ScopeSection", "SeveritySection",
    "StatusesSection", "SyncSection", "TemplatesSection", "TrackerSection", "WaitingSection", "WebhookSection",
    "adapter_options", "build_calendar", "build_contracts", "build_policy", "check_contracts", "config_from_mapping",
    "contract_sections", "describe_calendar", "load_config",
]


@dataclass(frozen=True)
class Config:
    """A loaded configuration: the policy and calendar the engine needs, and the raw sections."""

    path: Path
    file: ConfigFile
    policy: Policy            # the default contract's (the top-level sections)
    calendar: BusinessCalendar
    contracts: Contracts      # every contract, and which tracker or customer is under which

    def contract_for(self, ticket: Ticket) -> Contract:
        """The contract that judges `ticket`: its customer's, its tracker's, or the default."""
        return self.contracts.for_ticket(ticket)

    @property
    def store_path(self) -> Path | PostgresLocation:
        """The store: a SQLite file (a relative path is relative to the configuration file),
        or a PostgreSQL store's URL with where its password is read."""
        store = self.file.sync.store
        if isinstance(store, str):
            return PostgresLocation(store, self.file.sync.store_password)
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


def read_toml(path: Path) -> dict[str, Any]:
    """A configuration file's TOML; ConfigError naming the file when it cannot be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a directory, not a configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_config(path: str | Path) -> Config:
    """Read, validate and compile a configuration file; raise ConfigError on any problem."""
    path = Path(path)
    return config_from_mapping(read_toml(path), path)


def config_from_mapping(raw: Mapping[str, Any], path: Path = Path("<config>")) -> Config:
    try:
        file = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, exc)) from None
    try:
        contracts = build_contracts(file)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return Config(path, file, contracts.default.policy, contracts.default.calendar, contracts)
