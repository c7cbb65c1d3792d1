"""Opening hours as the calendar is given them: ``Interval``, their checks, public holidays' source.

Wall-clock settings only: turning them into instants is the index's job.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import pairwise
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as _holidays


def _countries_on_demand(package_name: str = "holidays.countries") -> None:
    """Have ``holidays`` import the configured country's module only, not all of them.

    The package's registry already imports a country's module when the country is first
    asked for (``country_holidays("FR")`` imports ``holidays.countries.france``), but
    importing that module first imports its package, whose ``__init__`` imports all ~250
    countries (some 8 MiB, for one). So the package is registered first as itself, its
    ``__init__`` not yet run: a country's module then imports alone, and the first name
    asked of the package itself (``from holidays.countries import Germany``, ``dir``, ``*``)
    runs its ``__init__``, so the package is then whole, as if imported the usual way.
    Nothing changes if the package is imported already or is not laid out so.
    """
    if package_name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(package_name)
    except (ImportError, ValueError):
        return
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return
    package = importlib.util.module_from_spec(spec)
    loader, lock = spec.loader, threading.RLock()
    state = {"run": False}  # whether the package's __init__ has run (or is running, in the lock's holder)

    def complete() -> None:
        with lock:  # another thread running the __init__: wait for it, as an import would
            if state["run"]:
                return
            state["run"] = True
            try:
                loader.exec_module(package)
            except BaseException:
                # As after a failed import: gone, and imported again by the next import.
                if sys.modules.get(package_name) is package:
                    del sys.modules[package_name]
                if getattr(_holidays, "countries", None) is package:
                    delattr(_holidays, "countries")
                raise
            for hook in (__getattr__, __dir__):
                if package.__dict__.get(hook.__name__) is hook:
                    del package.__dict__[hook.__name__]

    def __getattr__(name: str) -> object:  # a name the package does not hold (yet)
        complete()
        try:
            return package.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {package_name!r} has no attribute {name!r}") from None

    def __dir__() -> list[str]:
        complete()
        return sorted(package.__dict__)

    package.__dict__.update(__getattr__=__getattr__, __dir__=__dir__)
    sys.modules[package_name] = package
    _holidays.countries = package  # as an import of the package binds it


_countries_on_demand()

_MIDNIGHT: Final = time(0)

_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# The holidays package names Alsace-Moselle differently across versions and
# has no code for the two Alsace departments: accept the department numbers
# people actually write and map them to whatever the installed version knows.
_SUBDIVISION_CANDIDATES: Final[Mapping[tuple[str, str], tuple[str, ...]]] = {
    ("FR", "57"): ("57", "Moselle", "GES"),
    ("FR", "67"): ("6AE", "Alsace", "67", "GES"),
    ("FR", "68"): ("6AE", "Alsace", "68", "GES"),
    ("FR", "ALSACE-MOSELLE"): ("6AE", "Alsace", "GES"),
}

_NO_DATE_HOURS: Final[Mapping[date, Sequence[Interval]]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Interval:
    """An opening interval in local wall-clock time, half-open ``[start, end)``.

    ``end == time(0, 0)`` stands for 24:00 (midnight ending the day), the
    only way to keep a day open until midnight; otherwise ``start < end``.
    Times are naive (the calendar's zone applies) and may carry seconds.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time):
                raise TypeError(f"Interval.{name} must be a datetime.time, got {value!r}")
            if value.tzinfo is not None:
                raise ValueError(f"Interval.{name} must be a naive time: the calendar's time zone applies")
            if value.fold:
                # fold only means something on an aware datetime; keep equal
                # intervals equal.
                object.__setattr__(self, name, value.replace(fold=0))
        if self.end != _MIDNIGHT and self.start >= self.end:
            raise ValueError(f"interval {self} must start before it ends")

    @property
    def until_midnight(self) -> bool:
        """True when the interval runs until the end of the day (24:00)."""
        return self.end == _MIDNIGHT

    def contains(self, t: time) -> bool:
        """Whether the wall-clock time ``t`` is inside ``[start, end)``."""
        return self.start <= t and (self.until_midnight or t < self.end)

    def __str__(self) -> str:
        end = "24:00" if self.until_midnight else _format_time(self.end)
        return f"{_format_time(self.start)}-{end}"


WHOLE_DAY: Final = Interval(_MIDNIGHT, _MIDNIGHT)
"""Open all day, from 00:00 to 24:00 (for 24/7 service levels)."""


def _format_time(t: time) -> str:
    return t.isoformat(timespec="minutes" if not (t.second or t.microsecond) else "auto")


# --------------------------------------------------------------------- helpers


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _plain_date(d: object, what: str) -> date:
    # A datetime is a date, but would never equal a date key: refuse it.
    if not isinstance(d, date) or isinstance(d, datetime):
        raise TypeError(f"{what}: expected a datetime.date, got {d!r}")
    return d


def _day_hours(intervals: Sequence[Interval], where: str) -> tuple[Interval, ...]:
    """The intervals of one day, sorted, refusing overlaps (touching is fine)."""
    for iv in intervals:
        if not isinstance(iv, Interval):
            raise TypeError(f"{where}: expected Interval objects, got {iv!r}")
    ordered = tuple(sorted(intervals, key=lambda iv: iv.start))
    for before, after in pairwise(ordered):
        if before.until_midnight or after.start < before.end:
            raise ValueError(f"{where}: overlapping intervals {before} and {after}")
    return ordered


def _check_exceptions(
    closed: frozenset[date], open_dates: frozenset[date], weekly: tuple[tuple[Interval, ...], ...]
) -> None:
    """Refuse a date both closed and open, and an open date on a weekday without weekly hours."""
    both = closed & open_dates
    if both:
        raise ValueError(f"dates both closed and open: {', '.join(map(str, sorted(both)))}")
    for d in sorted(open_dates):
        if not weekly[d.weekday()]:
            raise ValueError(
                f"open date {d} is a {_WEEKDAYS[d.weekday()]}, which has no weekly hours: use date_hours to open it"
            )


def _weekly_hours(weekly: Mapping[int, Sequence[Interval]]) -> tuple[tuple[Interval, ...], ...]:
    for day in weekly:
        if day.__class__ is not int or not 0 <= day <= 6:
            raise ValueError(f"weekly: weekday must be 0 (Monday) .. 6 (Sunday), got {day!r}")
    return tuple(_day_hours(weekly.get(day, ()), _WEEKDAYS[day]) for day in range(7))


def _holiday_source(country: str | None, subdivision: str | None) -> tuple[str, str | None, str | None] | None:
    """(country, subdivision, language) as the installed holidays package spells them."""
    if country is None:
        if subdivision is not None:
            raise ValueError(f"subdivision {subdivision!r} given without a country")
        return None
    candidates = _SUBDIVISION_CANDIDATES.get((country.upper(), str(subdivision).upper()), (subdivision,))
    problem: Exception | None = None
    for candidate in candidates:
        try:
            probe = _holidays.country_holidays(country, subdiv=candidate, years=())
        except NotImplementedError as error:
            problem = error
            continue
        # Names in English whatever the machine's locale, so that
        # explanations do not depend on where sla-bridge runs.
        language = "en_US" if "en_US" in getattr(probe, "supported_languages", ()) else None
        return country, candidate, language
    raise ValueError(f"no public holidays known for country {country!r} subdivision {subdivision!r}: {problem}")
