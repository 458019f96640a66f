"""Browser signals parsed exactly as their specifications say (GPC spec §3.3, W3C TPE §5.2)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from covenant.consent.signals import Signals, dnt, from_headers, gpc, gpc_support


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1"], True),
        ([" 1\t"], True),  # optional whitespace is not part of a field value (RFC 9110 §5.5)
        ([], False),
        (["0"], False),
        (["true"], False),
        (["01"], False),
        (["1;foo"], False),  # no extension syntax: anything but "1" is as if absent
        (["1, 1"], False),  # not a list field: nothing is split on commas
        (["\u00b91"], False),  # a look-alike is not "1"
        (["0", "1"], True),  # several lines: present when at least one is exactly "1"
        (["yes", "no"], False),
    ],
)
def test_gpc_is_on_only_when_a_field_value_is_exactly_one(
    values: list[str], expected: bool
) -> None:
    assert gpc(values) is expected


@given(st.text().filter(lambda v: v.strip(" \t") != "1"))
def test_any_other_gpc_value_is_as_if_the_header_were_absent(value: str) -> None:
    assert gpc([value]) is False


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1"], True),
        (["0"], False),
        (["1xyz"], True),  # TPE allows extension characters after the digit
        (["2"], None),
        (["1,0"], None),
        ([], None),
        (["1", "1"], None),
    ],
)
def test_dnt_follows_the_tracking_preference_grammar(
    values: list[str], expected: bool | None
) -> None:
    assert dnt(values) is expected


def test_signals_come_from_raw_headers_in_any_case() -> None:
    assert from_headers([("Sec-GPC", "1"), ("DNT", "1")]) == Signals(gpc=True, dnt=True)
    assert from_headers([("sec-gpc", "0")]) == Signals()


def test_the_gpc_support_resource_has_the_spec_members() -> None:
    assert gpc_support(dt.date(2026, 1, 15)) == {"gpc": True, "lastUpdate": "2026-01-15"}
