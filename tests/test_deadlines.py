"""Request deadlines: concrete dates across holidays and weekends, overrides, and properties.

Every date below was worked out by hand from the calendar and the rule it
tests; the comments show the counting so a reader can check it. No test reads
the clock: each passes the moment it means.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from covenant.requests.deadlines import (
    CCPA,
    DEFAULT_RULES,
    GDPR,
    OVERRIDABLE,
    DeadlineRules,
    DeadlineRulesError,
    Deadlines,
    Standing,
    add_business_days,
    add_months,
    due,
    end_of_day,
    is_business_day,
    rules_from_mapping,
    status,
    strictest,
)
from covenant.requests.holidays import CALIFORNIA, california_holidays
from covenant.requests.lifecycle import Kind

LA = ZoneInfo("America/Los_Angeles")
BERLIN = ZoneInfo("Europe/Berlin")
D = dt.date


def at(year: int, month: int, day: int, tz: ZoneInfo, hour: int = 10) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=tz)


def day_of(moment: dt.datetime | None) -> dt.date:
    assert moment is not None
    return moment.date()


# --- The California calendar --------------------------------------------------


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (D(2026, 1, 19), "Martin Luther King Jr. Day"),  # third Monday in January
        (D(2026, 3, 31), "César Chávez Day"),
        (D(2024, 4, 1), "César Chávez Day"),  # 31 March 2024 was a Sunday
        (D(2026, 7, 3), "Independence Day"),  # 4 July 2026 is a Saturday
        (D(2026, 11, 26), "Thanksgiving Day"),
        (D(2026, 11, 27), "Day after Thanksgiving"),
        (D(2027, 12, 31), "New Year's Day"),  # 1 January 2028 is a Saturday
        (D(2028, 11, 10), "Veterans Day"),  # 11 November 2028 is a Saturday
        (D(2022, 12, 26), "Christmas Day"),  # 25 December 2022 was a Sunday
        (D(2021, 6, 18), "Juneteenth"),  # first observed: 19 June 2021 was a Saturday
        (D(2026, 10, 12), "Columbus Day"),  # federal, second Monday in October
    ],
)
def test_california_holidays_observed(day: dt.date, name: str) -> None:
    assert name in {h.name for h in california_holidays(day.year) if h.observed == day}
    assert day in CALIFORNIA
    assert not is_business_day(day, CALIFORNIA)


def test_days_state_offices_stay_open_are_business_days() -> None:
    # Lincoln Day, Admission Day, Native American Day (fourth Friday in
    # September) and Juneteenth before 2021 are not office closures.
    for day in (D(2026, 2, 12), D(2026, 9, 9), D(2026, 9, 25), D(2020, 6, 19)):
        assert is_business_day(day, CALIFORNIA), day


def test_a_year_has_the_expected_number_of_closures() -> None:
    # 11 federal + César Chávez Day + day after Thanksgiving; 2027 also gets
    # 31 December (New Year's Day 2028, a Saturday) and loses none.
    assert len(california_holidays(2026)) == 13
    assert len(california_holidays(2027)) == 14
    assert len(california_holidays(2028)) == 12  # its 1 January is observed in 2027


# --- CCPA ---------------------------------------------------------------------


def test_ccpa_request_received_the_wednesday_before_thanksgiving_2026() -> None:
    d = due(at(2026, 11, 25, LA), Kind.DELETE, CCPA, tz=LA)
    # Thu 26 and Fri 27 are holidays, then a weekend: business days 1-5 are
    # Nov 30-Dec 4, 6-10 are Dec 7-11.
    assert day_of(d.acknowledge_by) == D(2026, 12, 11)
    # 25 Nov + 45 days = 9 Jan 2027, a Saturday; CCPA does not roll forward.
    assert day_of(d.respond_by) == D(2027, 1, 9)
    assert day_of(d.extended_respond_by) == D(2027, 2, 23)  # 25 Nov + 90 days
    assert d.extension_notice_by == d.respond_by


def test_ccpa_request_received_on_new_years_eve() -> None:
    d = due(at(2026, 12, 31, LA), Kind.KNOW_SPECIFIC, CCPA, tz=LA)
    # Fri 1 Jan 2027 is New Year's Day: Jan 4-8 and Jan 11-15. MLK Day is Jan 18.
    assert day_of(d.acknowledge_by) == D(2027, 1, 15)
    assert day_of(d.respond_by) == D(2027, 2, 14)


def test_ccpa_request_received_on_an_observed_new_years_day() -> None:
    # 31 Dec 2027 is itself the observed New Year's Day (1 Jan 2028 is a Saturday).
    d = due(at(2027, 12, 31, LA), Kind.CORRECT, CCPA, tz=LA)
    assert day_of(d.acknowledge_by) == D(2028, 1, 14)  # Jan 3-7, Jan 10-14


def test_ccpa_opt_out_counts_fifteen_business_days_with_no_acknowledgement() -> None:
    d = due(at(2026, 11, 25, LA), Kind.OPT_OUT_SALE, CCPA, tz=LA)
    assert day_of(d.respond_by) == D(2026, 12, 18)  # Dec 11 is the 10th, Dec 14-18
    assert d.acknowledge_by is None
    assert d.extended_respond_by is None
    assert d.extension_notice_by is None
    assert not CCPA.allows_extension(Kind.OPT_OUT_SALE)
    with pytest.raises(ValueError, match="no extension"):
        due(at(2026, 11, 25, LA), Kind.OPT_OUT_SALE, CCPA, tz=LA, extended=True)


def test_the_day_of_receipt_is_the_stores_local_date() -> None:
    # 06:30 UTC on 1 Dec is still 30 Nov in Los Angeles.
    received = dt.datetime(2026, 12, 1, 6, 30, tzinfo=dt.UTC)
    d = due(received, Kind.DELETE, CCPA, tz=LA)
    assert day_of(d.respond_by) == D(2026, 11, 30) + dt.timedelta(days=45)


def test_a_request_received_on_a_saturday_counts_from_monday() -> None:
    d = due(at(2026, 3, 7, LA), Kind.DELETE, CCPA, tz=LA)
    assert day_of(d.acknowledge_by) == D(2026, 3, 20)  # Mar 9-13, Mar 16-20


def test_deadlines_are_the_end_of_a_day_in_the_stores_time_zone() -> None:
    d = due(at(2026, 11, 25, LA), Kind.DELETE, CCPA, tz=LA)
    assert d.respond_by == dt.datetime(2027, 1, 9, 23, 59, 59, 999999, tzinfo=LA)
    assert d.respond_by.tzinfo is LA


# --- GDPR ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "respond_by", "extended_by"),
    [
        # 31 January -> the last day of February: Sat 28 Feb 2026 moves to Mon 2 Mar.
        (D(2026, 1, 31), D(2026, 3, 2), D(2026, 4, 30)),
        # Leap year: Tue 29 Feb 2028; three months is Sun 30 Apr 2028 -> Mon 1 May.
        (D(2028, 1, 31), D(2028, 2, 29), D(2028, 5, 1)),
        # Sun 28 Feb 2027 -> Mon 1 Mar.
        (D(2027, 1, 31), D(2027, 3, 1), D(2027, 4, 30)),
        # Sat 14 Mar 2026 -> Mon 16 Mar; 14 May 2026 is a Thursday.
        (D(2026, 2, 14), D(2026, 3, 16), D(2026, 5, 14)),
        # An ordinary weekday: 15 Apr 2026 is a Wednesday.
        (D(2026, 3, 15), D(2026, 4, 15), D(2026, 6, 15)),
    ],
)
def test_gdpr_one_month(received: dt.date, respond_by: dt.date, extended_by: dt.date) -> None:
    d = due(at(received.year, received.month, received.day, BERLIN), Kind.ACCESS, GDPR, tz=BERLIN)
    assert d.acknowledge_by is None
    assert day_of(d.respond_by) == respond_by
    assert day_of(d.extended_respond_by) == extended_by
    assert d.extension_notice_by == d.respond_by


def test_gdpr_member_state_holidays_move_the_deadline() -> None:
    rules = rules_from_mapping({"extra_holidays": ["2026-12-25", D(2026, 12, 26)]}, base=GDPR)
    received = at(2026, 11, 25, BERLIN)
    # Fri 25 Dec is a holiday, then Sat 26, Sun 27: Mon 28 Dec.
    assert day_of(due(received, Kind.DELETE, rules, tz=BERLIN).respond_by) == D(2026, 12, 28)
    assert day_of(due(received, Kind.DELETE, GDPR, tz=BERLIN).respond_by) == D(2026, 12, 25)


def test_gdpr_opt_outs_follow_the_one_month_period() -> None:
    d = due(at(2026, 3, 15, BERLIN), Kind.OPT_OUT_MARKETING, GDPR, tz=BERLIN)
    assert day_of(d.respond_by) == D(2026, 4, 15)
    assert GDPR.allows_extension(Kind.OPT_OUT_MARKETING)


def test_add_months_clips_to_the_end_of_the_month() -> None:
    assert add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    assert add_months(D(2028, 1, 31), 1) == D(2028, 2, 29)
    assert add_months(D(2026, 3, 31), 1) == D(2026, 4, 30)
    assert add_months(D(2026, 11, 30), 3) == D(2027, 2, 28)
    assert add_months(D(2026, 12, 15), 1) == D(2027, 1, 15)


# --- Extension, status, several laws -----------------------------------------


def test_taking_the_extension_moves_the_effective_deadline_only() -> None:
    plain = due(at(2026, 11, 25, LA), Kind.DELETE, CCPA, tz=LA)
    extended = due(at(2026, 11, 25, LA), Kind.DELETE, CCPA, tz=LA, extended=True)
    assert plain.effective_respond_by == plain.respond_by
    assert extended.effective_respond_by == extended.extended_respond_by
    assert extended.respond_by == plain.respond_by
    # Notice of the extension is due inside the first period.
    assert extended.extension_notice_by is not None
    assert extended.received <= extended.extension_notice_by <= extended.respond_by


def test_status_against_the_next_deadline() -> None:
    d = due(at(2026, 11, 25, LA), Kind.DELETE, CCPA, tz=LA)
    assert status(d, at(2026, 12, 1, LA)) is Standing.ON_TIME
    assert status(d, at(2026, 12, 10, LA)) is Standing.DUE_SOON  # ack due Dec 11
    assert status(d, at(2026, 12, 12, LA)) is Standing.OVERDUE
    assert status(d, at(2026, 12, 12, LA), acknowledged=True) is Standing.ON_TIME
    assert status(d, at(2027, 1, 8, LA), acknowledged=True) is Standing.DUE_SOON
    assert status(d, at(2027, 1, 10, LA, hour=0), acknowledged=True) == "overdue"
    # The last instant of the deadline day is still on time.
    assert status(d, d.respond_by, acknowledged=True, soon=dt.timedelta(0)) is Standing.ON_TIME
    extended = due(at(2026, 11, 25, LA), Kind.DELETE, CCPA, tz=LA, extended=True)
    assert status(extended, at(2027, 1, 10, LA), acknowledged=True) is Standing.ON_TIME


def test_status_needs_an_aware_now() -> None:
    d = due(at(2026, 11, 25, LA), Kind.DELETE, CCPA, tz=LA)
    with pytest.raises(ValueError, match="timezone-aware"):
        status(d, dt.datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        due(dt.datetime(2026, 12, 1), Kind.DELETE, CCPA, tz=LA)


def test_strictest_takes_the_earliest_of_each_deadline() -> None:
    received = at(2026, 1, 31, LA)
    ccpa = due(received, Kind.ACCESS, CCPA, tz=LA)
    gdpr = due(received, Kind.ACCESS, GDPR, tz=LA)
    both = strictest([ccpa, gdpr])
    assert both.jurisdiction == "ccpa+gdpr"
    assert both.acknowledge_by == ccpa.acknowledge_by  # only the CCPA asks for one
    assert day_of(both.respond_by) == D(2026, 3, 2)  # GDPR; the CCPA's is 17 Mar
    assert day_of(both.extended_respond_by) == D(2026, 4, 30)  # GDPR; CCPA's is 1 May
    assert both.extension_notice_by == gdpr.extension_notice_by


def test_strictest_caps_the_extension_at_a_law_that_allows_none() -> None:
    received = at(2026, 3, 2, LA)
    strict = DeadlineRules(name="strict", respond_days=20)
    combined = strictest(
        [
            due(received, Kind.DELETE, strict, tz=LA),
            due(received, Kind.DELETE, CCPA, tz=LA),
        ]
    )
    assert day_of(combined.extended_respond_by) == D(2026, 3, 22)


def test_strictest_refuses_deadlines_of_different_requests() -> None:
    a = due(at(2026, 3, 2, LA), Kind.DELETE, CCPA, tz=LA)
    b = due(at(2026, 3, 3, LA), Kind.DELETE, CCPA, tz=LA)
    c = due(at(2026, 3, 2, LA), Kind.DELETE, CCPA, tz=LA, extended=True)
    with pytest.raises(ValueError, match="one request"):
        strictest([a, b])
    with pytest.raises(ValueError, match="one request"):
        strictest([a, c])
    with pytest.raises(ValueError, match="at least one"):
        strictest([])


# --- Overrides ------------------------------------------------------------------


def test_default_rules_by_declaration_code() -> None:
    assert DEFAULT_RULES["us-ca"] is CCPA
    assert DEFAULT_RULES["eu"] is GDPR


def test_override_a_shorter_response_and_acknowledgement() -> None:
    rules = rules_from_mapping({"respond_days": 30, "ack_business_days": 5}, base=CCPA)
    assert (rules.respond_days, rules.extension_days, rules.ack_business_days) == (30, 45, 5)
    d = due(at(2026, 11, 25, LA), Kind.DELETE, rules, tz=LA)
    assert day_of(d.acknowledge_by) == D(2026, 12, 4)
    assert day_of(d.respond_by) == D(2026, 12, 25)
    assert day_of(d.extended_respond_by) == D(2027, 2, 8)  # 25 Nov + 75 days


def test_override_switches_units_when_told_the_extension_too() -> None:
    rules = rules_from_mapping({"respond_days": 30, "extension_days": 0}, base=GDPR)
    assert (rules.respond_days, rules.respond_months, rules.extension_months) == (30, None, None)
    assert not rules.allows_extension(Kind.ACCESS)
    d = due(at(2026, 3, 15, BERLIN), Kind.ACCESS, rules, tz=BERLIN)
    assert d.extended_respond_by is None
    assert day_of(d.respond_by) == D(2026, 4, 14)


def test_override_can_remove_the_acknowledgement_and_opt_out_rule() -> None:
    rules = rules_from_mapping(
        {"ack_business_days": None, "opt_out_business_days": None}, base=CCPA
    )
    d = due(at(2026, 11, 25, LA), Kind.OPT_OUT_SALE, rules, tz=LA)
    assert d.acknowledge_by is None
    assert day_of(d.respond_by) == D(2027, 1, 9)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"respond_weeks": 2}, "unknown key.*respond_weeks.*known keys are"),
        ({"respond_days": 30, "respond_months": 1}, "respond_days or respond_months, not both"),
        ({"respond_days": 30}, "give extension_days too"),
        ({"respond_months": 0}, "respond_months must be 1 or more, not 0"),
        ({"ack_business_days": -1}, "ack_business_days must be 1 or more"),
        ({"extension_months": -1}, "extension_months must be 0 or more"),
        ({"respond_months": True}, "respond_months must be a whole number, not True"),
        ({"respond_months": "1"}, "must be a whole number, not '1'"),
        ({"respond_months": 1.5}, "must be a whole number, not 1.5"),
        ({"respond_months": None}, "exactly one of respond_days and respond_months"),
        ({"extension_days": 10}, "extension_days needs respond_days"),
        ({"roll_forward": "yes"}, "roll_forward must be true or false"),
        ({"extra_holidays": "2026-12-25"}, "must be a list of dates"),
        ({"extra_holidays": ["25/12/2026"]}, "'25/12/2026' is not a date"),
        ({"extra_holidays": [dt.datetime(2026, 12, 25, tzinfo=dt.UTC)]}, "dates, not times"),
    ],
)
def test_invalid_overrides_are_refused_with_a_clear_message(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(DeadlineRulesError, match=message) as caught:
        rules_from_mapping(data, base=GDPR)
    assert isinstance(caught.value, ValueError)
    assert "'gdpr'" in str(caught.value)


def test_rules_are_checked_when_built_directly() -> None:
    with pytest.raises(DeadlineRulesError, match="exactly one of respond_days and respond_months"):
        DeadlineRules(name="none")
    with pytest.raises(
        DeadlineRulesError, match="at most one of extension_days and extension_months"
    ):
        DeadlineRules(name="both", respond_days=10, extension_days=1, extension_months=1)


# --- Properties -------------------------------------------------------------------

days = st.dates(min_value=D(2020, 1, 1), max_value=D(2040, 12, 31))
counts = st.integers(min_value=0, max_value=60)
zones = st.sampled_from([LA, BERLIN, ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")])
kinds = st.sampled_from(list(Kind))
rule_sets = st.sampled_from([CCPA, GDPR])


@given(days, days, counts)
def test_business_day_addition_is_monotonic_in_the_start(a: dt.date, b: dt.date, n: int) -> None:
    a, b = min(a, b), max(a, b)
    assert add_business_days(a, n, CALIFORNIA) <= add_business_days(b, n, CALIFORNIA)


@given(days, counts, counts)
def test_business_day_addition_is_monotonic_in_the_count(start: dt.date, n: int, m: int) -> None:
    n, m = min(n, m), max(n, m)
    assert add_business_days(start, n, CALIFORNIA) <= add_business_days(start, m, CALIFORNIA)


@given(days, st.integers(min_value=1, max_value=60))
def test_business_day_addition_lands_on_a_business_day(start: dt.date, n: int) -> None:
    end = add_business_days(start, n, CALIFORNIA)
    assert end > start
    assert end.weekday() < 5
    assert end not in CALIFORNIA
    # Exactly n business days lie in (start, end].
    between = (start + dt.timedelta(days=i) for i in range(1, (end - start).days + 1))
    assert sum(is_business_day(d, CALIFORNIA) for d in between) == n


@given(days, zones, kinds, rule_sets, st.booleans())
def test_deadlines_are_ordered(
    day: dt.date, tz: ZoneInfo, kind: Kind, rules: DeadlineRules, extended: bool
) -> None:
    received = dt.datetime.combine(day, dt.time(12), tzinfo=tz)
    extended = extended and rules.allows_extension(kind)
    d = due(received, kind, rules, tz=tz, extended=extended)
    assert d.respond_by > received
    if d.acknowledge_by is not None:
        assert d.respond_by >= d.acknowledge_by
    if d.extended_respond_by is not None:
        assert d.extended_respond_by >= d.respond_by
        assert d.extension_notice_by is not None
        assert received < d.extension_notice_by <= d.respond_by
    assert d.effective_respond_by >= d.respond_by


@given(days)
def test_gdpr_deadlines_never_fall_on_a_weekend(day: dt.date) -> None:
    d = due(dt.datetime.combine(day, dt.time(9), tzinfo=BERLIN), Kind.ACCESS, GDPR, tz=BERLIN)
    assert d.respond_by.weekday() < 5
    assert d.extended_respond_by is not None
    assert d.extended_respond_by.weekday() < 5


@given(days, zones, kinds)
def test_strictest_is_never_later_than_any_law(day: dt.date, tz: ZoneInfo, kind: Kind) -> None:
    received = dt.datetime.combine(day, dt.time(12), tzinfo=tz)
    each: list[Deadlines] = [due(received, kind, r, tz=tz) for r in (CCPA, GDPR)]
    both = strictest(each)
    for d in each:
        assert both.respond_by <= d.respond_by
        if both.extended_respond_by is not None:
            assert both.extended_respond_by <= (d.extended_respond_by or d.respond_by)


def test_end_of_day_is_inside_the_day_across_daylight_saving() -> None:
    # 8 March 2026: clocks go forward in Los Angeles; 1 Nov 2026: back.
    for day in (D(2026, 3, 8), D(2026, 11, 1)):
        end = end_of_day(day, LA)
        assert end.date() == day
        assert (end + dt.timedelta(microseconds=1)).astimezone(LA).date() == day + dt.timedelta(
            days=1
        )


def test_a_kind_may_be_given_by_its_value() -> None:
    received = at(2026, 11, 25, LA)
    assert due(received, "delete", CCPA, tz=LA) == due(received, Kind.DELETE, CCPA, tz=LA)
    with pytest.raises(ValueError, match="'borrow'"):
        due(received, "borrow", CCPA, tz=LA)


def test_every_override_key_is_documented() -> None:
    text = (Path(__file__).parent.parent / "docs" / "deadlines.md").read_text()
    missing = [key for key in sorted(OVERRIDABLE) if f"`{key}`" not in text]
    assert not missing, f"document these keys in docs/deadlines.md: {missing}"
