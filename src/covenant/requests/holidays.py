"""Holiday calendars that decide which days are business days for request deadlines.

Owns computing holidays from the rules that create them: a date rule ("the
fourth Thursday in November") and an observance rule ("on a Sunday, the Monday
after"), never a hard-coded list of dates, so every future year is right
without an update. Pure: no clock, no files, no network. It must never guess at
holidays that nobody can compute in advance (a day a Governor or President
proclaims); those reach the deadlines as a store's ``extra_holidays``.

The California calendar is the union of two sources, each with its own
observance rule, because a CCPA "business day" is not defined by the
regulations and a business in California closes on either:

* US federal holidays, 5 U.S.C. § 6103(a): New Year's Day, Martin Luther King
  Jr. Day, Washington's Birthday, Memorial Day, Juneteenth (since 2021, Pub. L.
  117-17), Independence Day, Labor Day, Columbus Day, Veterans Day,
  Thanksgiving Day, Christmas Day. Observed per § 6103(b) and Executive Order
  11582: a holiday on a Saturday is observed on the Friday before, on a Sunday
  on the Monday after.
* The days California state offices close, Cal. Gov. Code § 19853(a), which
  adds César Chávez Day (March 31) and the day after Thanksgiving to the
  federal days above. Observed per § 19853(b) and § 6701: on a Sunday, the
  Monday after; Veterans Day on a Saturday, the Friday before. Other state
  holidays falling on a Saturday are not moved.

Days listed in Gov. Code § 6700 on which state offices stay open (Lincoln Day,
Lunar New Year, Genocide Remembrance Day, Admission Day, Native American Day,
Good Friday 12-3 p.m.) are business days here: § 19853(e) makes them optional
for state employees only, and counting them would push deadlines later than
the law may allow.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal

Observance = Literal["federal", "state"]

MONDAY, THURSDAY = 0, 3
SATURDAY, SUNDAY = 5, 6

NO_HOLIDAYS: frozenset[dt.date] = frozenset()
"""The empty calendar: only Saturdays and Sundays are not working days."""


@dataclass(frozen=True, slots=True)
class Holiday:
    """One holiday as observed: the day offices close, which may differ from the named date."""

    observed: dt.date
    name: str
    source: str


def nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The ``n``-th ``weekday`` (Monday is 0) of the month; ``n = -1`` is the last one."""
    if n == -1:
        last = dt.date(year, month, calendar.monthrange(year, month)[1])
        return last - dt.timedelta(days=(last.weekday() - weekday) % 7)
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def observed(day: dt.date, rule: Observance) -> dt.date:
    """The day a fixed-date holiday closes offices under its source's observance rule."""
    if day.weekday() == SUNDAY:
        return day + dt.timedelta(days=1)
    if day.weekday() == SATURDAY and rule == "federal":
        return day - dt.timedelta(days=1)
    return day


def thanksgiving(year: int) -> dt.date:
    """The fourth Thursday in November (5 U.S.C. § 6103(a); Gov. Code § 19853(a))."""
    return nth_weekday(year, 11, THURSDAY, 4)


# Fixed-date holidays: (month, day, name, first year, federal?, in Gov. Code § 19853?).
# A holiday that is both federal and state takes the federal observance, which
# also moves Saturdays (so the state's own Saturday rule for Veterans Day adds
# nothing); the union of the two sources is what closes offices. Only
# Juneteenth has a first year that matters: CCPA requests start in 2020.
_FIXED: tuple[tuple[int, int, str, int, bool, bool], ...] = (
    (1, 1, "New Year's Day", 0, True, True),
    (3, 31, "César Chávez Day", 0, False, True),
    (6, 19, "Juneteenth", 2021, True, False),
    (7, 4, "Independence Day", 0, True, True),
    (11, 11, "Veterans Day", 0, True, True),
    (12, 25, "Christmas Day", 0, True, True),
)

_FLOATING: tuple[tuple[str, str, Callable[[int], dt.date]], ...] = (
    ("Martin Luther King Jr. Day", "federal, state", lambda y: nth_weekday(y, 1, MONDAY, 3)),
    ("Washington's Birthday", "federal, state", lambda y: nth_weekday(y, 2, MONDAY, 3)),
    ("Memorial Day", "federal, state", lambda y: nth_weekday(y, 5, MONDAY, -1)),
    ("Labor Day", "federal, state", lambda y: nth_weekday(y, 9, MONDAY, 1)),
    ("Columbus Day", "federal", lambda y: nth_weekday(y, 10, MONDAY, 2)),
    ("Thanksgiving Day", "federal, state", thanksgiving),
    ("Day after Thanksgiving", "state", lambda y: thanksgiving(y) + dt.timedelta(days=1)),
)


def _fixed_in(year: int) -> Iterable[Holiday]:
    # Jan 1 on a Saturday is observed on Dec 31 of the year before, so each
    # year looks at its neighbours' fixed dates too.
    for y in (year - 1, year, year + 1):
        for month, day, name, since, federal, state in _FIXED:
            if y < since:
                continue
            named = dt.date(y, month, day)
            rule: Observance = "federal" if federal else "state"
            sources = ", ".join(s for s, on in (("federal", federal), ("state", state)) if on)
            day_off = observed(named, rule)
            if day_off.year == year:
                yield Holiday(day_off, name, sources)


@cache
def california_holidays(year: int) -> tuple[Holiday, ...]:
    """Every holiday observed in ``year`` by federal or California state offices, by date."""
    floating = (Holiday(rule(year), name, sources) for name, sources, rule in _FLOATING)
    return tuple(sorted([*_fixed_in(year), *floating], key=lambda h: h.observed))


@dataclass(frozen=True, slots=True)
class CaliforniaCalendar:
    """The California business-day calendar for any year, computed on demand.

    Use it wherever a ``Container[date]`` of holidays is expected:
    ``day in CALIFORNIA``.
    """

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, dt.date):
            return False
        return any(h.observed == day for h in california_holidays(day.year))


CALIFORNIA = CaliforniaCalendar()


@dataclass(frozen=True, slots=True)
class CombinedCalendar:
    """Several calendars at once: a day is a holiday when any of them says so.

    This is how a store's ``extra_holidays`` (a proclaimed closure, a member
    state's public holidays) join a jurisdiction's default calendar.
    """

    calendars: tuple[Container[dt.date], ...]

    def __contains__(self, day: object) -> bool:
        return any(day in c for c in self.calendars)
