"""When a data subject request must be acknowledged and answered, per jurisdiction.

Owns the deadline arithmetic: business days, calendar days and calendar months
counted from the moment a request was received; the two default rule sets
(:data:`CCPA`, :data:`GDPR`) and the declaration's overrides of them; whether a
request is on time; and which deadline wins when several laws apply. Pure:
every moment comes in as a parameter, so this module never reads the clock,
a file or a database, and never decides anything about a request beyond its
dates.

Sources (explained in ``docs/deadlines.md``):

* CCPA, Cal. Code Regs. tit. 11 § 7021(a): confirm receipt of a request to
  know, delete or correct no later than 10 business days after receiving it;
  § 7021(b): respond no later than 45 calendar days after receipt, plus up to
  45 more (90 in total from receipt) with notice and reasons;
  § 7026(f): act on an opt-out of sale/sharing no later than 15 business days
  from receipt.
* GDPR Art. 12(3): respond within one month of receipt, extendable by two
  further months, telling the person within the first month. Periods count
  per Regulation (EEC, Euratom) No 1182/71, Art. 3.

Every deadline is the end of a day (23:59:59.999999) in the store's time zone,
and the day of receipt is the store's local date of the received moment.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType

from covenant.errors import CovenantError
from covenant.requests.holidays import CALIFORNIA, NO_HOLIDAYS, CombinedCalendar
from covenant.requests.lifecycle import Kind

DUE_SOON = dt.timedelta(days=3)
"""How close to a deadline a request counts as due soon, unless the caller says otherwise."""

# A calendar that closes this many days in a row is a mistake in the calendar,
# not a reason to loop forever.
_LONGEST_CLOSURE = 31


class DeadlineRulesError(CovenantError, ValueError):
    """The deadline rules are not valid."""

    exit_code = 2
    status = 400


class Standing(StrEnum):
    """Where a request stands against its next deadline."""

    ON_TIME = "on_time"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class DeadlineRules:
    """The periods one jurisdiction allows, counted from the day a request arrives.

    The response period is in days or in months, never both; the extension, if
    any, uses the same unit and is the time added on top of the response
    period, so the extended deadline is ``respond + extension`` from receipt.
    ``None`` (or ``0`` for an extension) means the law sets no such step.
    """

    name: str
    respond_days: int | None = None
    respond_months: int | None = None
    extension_days: int | None = None
    extension_months: int | None = None
    ack_business_days: int | None = None
    opt_out_business_days: int | None = None
    """Opt-outs answered within this many business days, with no acknowledgement
    and no extension; ``None`` means opt-outs follow the response period."""
    roll_forward: bool = False
    """Move a deadline that falls on a weekend or holiday to the next working day."""
    holidays: Container[dt.date] = NO_HOLIDAYS

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise DeadlineRulesError(f"deadline rules {self.name!r}: " + "; ".join(problems))

    def allows_extension(self, kind: str) -> bool:
        """Whether a request of this kind may be extended under these rules."""
        if Kind(kind).is_opt_out and self.opt_out_business_days is not None:
            return False
        return bool(self.extension_days or self.extension_months)


_COUNTS = (
    "respond_days",
    "respond_months",
    "extension_days",
    "extension_months",
    "ack_business_days",
    "opt_out_business_days",
)


def _problems(rules: DeadlineRules) -> Iterable[str]:
    for name in _COUNTS:
        value = getattr(rules, name)
        # bool is an int in Python; `respond_days: true` in YAML is a typo, not 1.
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            yield f"{name} must be a whole number, not {value!r}"
        elif value is not None and value < (0 if name.startswith("extension") else 1):
            least = "0 or more" if name.startswith("extension") else "1 or more"
            yield f"{name} must be {least}, not {value}"
    if (rules.respond_days is None) == (rules.respond_months is None):
        yield "give exactly one of respond_days and respond_months"
    if rules.extension_days and rules.extension_months:
        yield "give at most one of extension_days and extension_months"
    if rules.extension_days and rules.respond_days is None:
        yield "extension_days needs respond_days: an extension uses the response period's unit"
    if rules.extension_months and rules.respond_months is None:
        yield "extension_months needs respond_months: an extension uses the response period's unit"
    if not isinstance(rules.roll_forward, bool):
        yield f"roll_forward must be true or false, not {rules.roll_forward!r}"


CCPA = DeadlineRules(
    name="ccpa",
    ack_business_days=10,  # § 7021(a)
    respond_days=45,  # § 7021(b)
    extension_days=45,  # § 7021(b): "a maximum total of 90 calendar days"
    opt_out_business_days=15,  # § 7026(f)
    # § 7021 counts calendar days and says nothing of weekends; the earlier
    # date is never wrong, so a deadline on a Sunday stays on the Sunday.
    roll_forward=False,
    holidays=CALIFORNIA,
)
"""California: Cal. Code Regs. tit. 11 §§ 7021, 7026(f)."""

GDPR = DeadlineRules(
    name="gdpr",
    respond_months=1,  # Art. 12(3)
    extension_months=2,  # Art. 12(3): "two further months"
    roll_forward=True,  # Reg. 1182/71 Art. 3(4)
    # Public holidays differ by member state; a store adds its own through
    # `extra_holidays`. Without them only Saturdays and Sundays move a deadline.
    holidays=NO_HOLIDAYS,
)
"""The EU: GDPR Art. 12(3), with periods per Regulation 1182/71."""

DEFAULT_RULES: Mapping[str, DeadlineRules] = MappingProxyType({"us-ca": CCPA, "eu": GDPR})
"""Default rules by the declaration's ``organization.jurisdictions`` codes."""

OVERRIDABLE = frozenset({*_COUNTS, "roll_forward", "extra_holidays"})
"""The keys a declaration may override; each is documented in ``docs/deadlines.md``."""


def rules_from_mapping(data: Mapping[str, object], *, base: DeadlineRules) -> DeadlineRules:
    """``base`` with the overrides in ``data``, as the declaration will state them.

    Giving ``respond_days`` switches a month-based ``base`` to days (and the
    reverse); the extension must then be given in the new unit too.
    ``extra_holidays`` is a list of dates (or ISO date strings) added to the
    base calendar. Raises :class:`DeadlineRulesError`, a ``ValueError`` whose
    message names the rules and what is wrong.
    """
    unknown = sorted(set(data) - OVERRIDABLE)
    if unknown:
        raise DeadlineRulesError(
            f"deadline rules {base.name!r}: unknown key(s) {', '.join(unknown)}; "
            f"known keys are {', '.join(sorted(OVERRIDABLE))}"
        )
    changes: dict[str, object] = {k: v for k, v in data.items() if k != "extra_holidays"}
    for unit, other in (("days", "months"), ("months", "days")):
        changes.update(_unit_switch(data, base, unit, other))
    if "extra_holidays" in data:
        extra = _dates(data["extra_holidays"], base.name)
        changes["holidays"] = CombinedCalendar((base.holidays, extra))
    return replace(base, **changes)  # type: ignore[arg-type]  # checked in __post_init__


def _unit_switch(
    data: Mapping[str, object], base: DeadlineRules, unit: str, other: str
) -> dict[str, object]:
    """The fields in ``other`` units that ``data``'s fields in ``unit`` clear."""
    cleared: dict[str, object] = {}
    for step in ("respond", "extension"):
        if f"{step}_{unit}" not in data:
            continue
        if f"{step}_{other}" in data:
            raise DeadlineRulesError(
                f"deadline rules {base.name!r}: give {step}_days or {step}_months, not both"
            )
        cleared[f"{step}_{other}"] = None
    # Switching the response's unit would silently drop an extension kept in
    # the other unit; make the declaration say what it wants instead.
    switches = f"respond_{unit}" in data and f"extension_{unit}" not in data
    if switches and getattr(base, f"extension_{other}"):
        raise DeadlineRulesError(
            f"deadline rules {base.name!r}: respond_{unit} replaces respond_{other}; "
            f"give extension_{unit} too (0 for no extension)"
        )
    return cleared


def _dates(value: object, name: str) -> frozenset[dt.date]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise DeadlineRulesError(f"deadline rules {name!r}: extra_holidays must be a list of dates")
    out: set[dt.date] = set()
    for item in value:
        if isinstance(item, dt.datetime):
            raise DeadlineRulesError(
                f"deadline rules {name!r}: extra_holidays takes dates, not times: {item!r}"
            )
        if isinstance(item, dt.date):
            out.add(item)
            continue
        try:
            out.add(dt.date.fromisoformat(str(item)))
        except ValueError:
            raise DeadlineRulesError(
                f"deadline rules {name!r}: extra_holidays: {item!r} is not a date (YYYY-MM-DD)"
            ) from None
    return frozenset(out)


# --- Calendar arithmetic -----------------------------------------------------


def is_business_day(day: dt.date, holidays: Container[dt.date]) -> bool:
    """Monday to Friday, and not in ``holidays``."""
    return day.weekday() < 5 and day not in holidays


def add_business_days(start: dt.date, n: int, holidays: Container[dt.date]) -> dt.date:
    """The ``n``-th business day after ``start``; ``start`` itself never counts.

    A request received on a Saturday has its first business day on Monday.
    ``n = 0`` gives ``start`` unchanged.
    """
    if n < 0:
        raise ValueError(f"cannot count {n} business days")
    day, closed = start, 0
    while n:
        day += dt.timedelta(days=1)
        if is_business_day(day, holidays):
            n, closed = n - 1, 0
        else:
            closed += 1
            if closed > _LONGEST_CLOSURE:
                raise ValueError(f"the holiday calendar has no business day after {day}")
    return day


def next_business_day(day: dt.date, holidays: Container[dt.date]) -> dt.date:
    """``day`` if it is a business day, or the first business day after it."""
    if is_business_day(day, holidays):
        return day
    return add_business_days(day, 1, holidays)


def add_months(day: dt.date, n: int) -> dt.date:
    """The same date ``n`` months later, or the last day of that month if it has no such date.

    Regulation 1182/71 Art. 3(2)(c): a period in months ends on the day of the
    last month with the same date as the day it runs from, or on the last day
    of that month when the date does not occur (31 January + 1 month is 28 or
    29 February).
    """
    years, month0 = divmod(day.month - 1 + n, 12)
    year, month = day.year + years, month0 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def end_of_day(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The last instant of ``day`` in ``tz``: a deadline met any time that day."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=tz)


# --- Deadlines ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deadlines:
    """The dates one request must meet, as timezone-aware ends of days.

    ``respond_by`` is the first period; ``extended_respond_by`` the latest
    possible date with an extension, and ``extension_notice_by`` when the
    person must have been told of it (the end of the first period). Both are
    ``None`` where the law allows no extension. ``extended`` says whether the
    extension has been taken.
    """

    jurisdiction: str
    kind: Kind
    received: dt.datetime
    acknowledge_by: dt.datetime | None
    respond_by: dt.datetime
    extension_notice_by: dt.datetime | None
    extended_respond_by: dt.datetime | None
    extended: bool = False

    @property
    def effective_respond_by(self) -> dt.datetime:
        """The response deadline that applies now: extended only once the extension is taken."""
        if self.extended and self.extended_respond_by is not None:
            return self.extended_respond_by
        return self.respond_by


def _aware(moment: dt.datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment!r}")


def _period_end(
    received: dt.date, rules: DeadlineRules, days: int | None, months: int | None
) -> dt.date:
    # Days count from the day after receipt (Cal. Code Civ. Proc. § 12 excludes
    # the first day; § 7021(b)'s "begin on the day" only stops verification
    # from pausing the clock). Months end on the same date (Reg. 1182/71).
    end = (
        received + dt.timedelta(days=days)
        if days is not None
        else add_months(received, months or 0)
    )
    return next_business_day(end, rules.holidays) if rules.roll_forward else end


def due(
    received: dt.datetime,
    kind: str,
    rules: DeadlineRules,
    *,
    tz: dt.tzinfo,
    extended: bool = False,
) -> Deadlines:
    """The deadlines of a request of ``kind`` received at ``received``, under ``rules``.

    ``kind`` is a :class:`Kind` or its value (a request's lifecycle
    kind is one). ``tz`` is the store's time zone: it decides the day of
    receipt and the end of each deadline day. ``extended=True`` records that
    the extension has been taken; it is an error where the rules allow none
    (check :meth:`DeadlineRules.allows_extension`).
    """
    _aware(received, "received")
    kind = Kind(kind)
    if extended and not rules.allows_extension(kind):
        raise ValueError(f"{rules.name} allows no extension for {kind.value} requests")
    day = received.astimezone(tz).date()

    def end(d: dt.date) -> dt.datetime:
        return end_of_day(d, tz)

    if kind.is_opt_out and rules.opt_out_business_days is not None:
        respond = add_business_days(day, rules.opt_out_business_days, rules.holidays)
        return Deadlines(rules.name, kind, received, None, end(respond), None, None)

    ack = (
        None
        if rules.ack_business_days is None
        else end(add_business_days(day, rules.ack_business_days, rules.holidays))
    )
    respond = _period_end(day, rules, rules.respond_days, rules.respond_months)
    notice: dt.datetime | None = None
    longest: dt.datetime | None = None
    if rules.allows_extension(kind):
        # The extension is measured from receipt (90 days; three months), not
        # from a first deadline a weekend may have moved: § 7021(b) states the
        # 90-day total, and Art. 12(3) extends the one period.
        total_days = (rules.respond_days or 0) + (rules.extension_days or 0)
        total_months = (rules.respond_months or 0) + (rules.extension_months or 0)
        longest = end(
            _period_end(
                day,
                rules,
                total_days if rules.respond_days is not None else None,
                total_months,
            )
        )
        notice = end(respond)
    return Deadlines(rules.name, kind, received, ack, end(respond), notice, longest, extended)


def status(
    deadlines: Deadlines,
    now: dt.datetime,
    *,
    acknowledged: bool = False,
    soon: dt.timedelta = DUE_SOON,
) -> Standing:
    """Where the request stands against its next open deadline at ``now``.

    Until ``acknowledged``, the acknowledgement deadline counts too, so a
    request that is late only in its acknowledgement is already overdue.
    """
    _aware(now, "now")
    pending = [deadlines.effective_respond_by]
    if not acknowledged and deadlines.acknowledge_by is not None:
        pending.append(deadlines.acknowledge_by)
    deadline = min(pending)
    if now > deadline:
        return Standing.OVERDUE
    if now > deadline - soon:
        return Standing.DUE_SOON
    return Standing.ON_TIME


def _earliest(values: Iterable[dt.datetime | None]) -> dt.datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def strictest(deadlines: Sequence[Deadlines]) -> Deadlines:
    """One request under several laws: each deadline is the earliest any of them sets.

    All must be for the same request (same received moment and kind) and agree
    on whether the extension was taken. A law without an extension caps the
    extended deadline at its own response deadline, so extending never lets
    the request run past what that law allows.
    """
    if not deadlines:
        raise ValueError("strictest() needs at least one set of deadlines")
    first = deadlines[0]
    for d in deadlines[1:]:
        if (d.received, d.kind, d.extended) != (first.received, first.kind, first.extended):
            raise ValueError(
                "strictest() combines the deadlines of one request: "
                "received, kind and extended must agree"
            )
    longest = _earliest(d.extended_respond_by or d.respond_by for d in deadlines)
    any_extension = any(d.extended_respond_by is not None for d in deadlines)
    return Deadlines(
        jurisdiction="+".join(d.jurisdiction for d in deadlines),
        kind=first.kind,
        received=first.received,
        acknowledge_by=_earliest(d.acknowledge_by for d in deadlines),
        respond_by=min(d.respond_by for d in deadlines),
        extension_notice_by=_earliest(d.extension_notice_by for d in deadlines),
        extended_respond_by=longest if any_extension else None,
        extended=first.extended,
    )


__all__ = [
    "CCPA",
    "DEFAULT_RULES",
    "DUE_SOON",
    "GDPR",
    "OVERRIDABLE",
    "DeadlineRules",
    "DeadlineRulesError",
    "Deadlines",
    "Kind",
    "Standing",
    "add_business_days",
    "add_months",
    "due",
    "end_of_day",
    "is_business_day",
    "next_business_day",
    "rules_from_mapping",
    "status",
    "strictest",
]
