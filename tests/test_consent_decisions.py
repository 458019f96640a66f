"""The decision rules, pure: no database (GDPR Art. 7(3), CCPA regulations §7025, seeds P5, P12)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from covenant.consent.decisions import Nature, Policy, decide, nature_of_use
from covenant.consent.records import (
    Choice,
    ConsentError,
    ConsentRecord,
    Draft,
    Kind,
    Method,
    Topic,
    evidence,
    jurisdiction,
)
from covenant.consent.signals import Signals
from covenant.declaration import load

EXAMPLES = Path(__file__).parent.parent / "examples"
AUDIO = Policy.from_declaration(load(EXAMPLES / "audio-store" / "covenant.yml").declaration)
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

ORDERS = Topic("purpose", "orders")
MARKETING = Topic("purpose", "marketing")
ADVERTISING = Topic("purpose", "advertising")
ANALYTICS = Topic("category", "analytics")
AD_TRACKERS = Topic("category", "advertising")
NECESSARY = Topic("category", "strictly_necessary")
PERSONALIZATION = Topic("purpose", "personalization")


def rec(
    seq: int,
    topic: Topic,
    choice: Choice,
    *,
    minutes: int = 0,
    method: Method = Method.BANNER,
) -> ConsentRecord:
    draft = Draft(
        kind=Kind.CHOICE,
        method=method,
        jurisdiction="eu",
        subject_ref="s-1",
        topic=topic,
        choice=choice,
        notice_version="v1",
    )
    return ConsentRecord(seq=seq, at=T0 + dt.timedelta(minutes=minutes), draft=draft)


def minor_flag(seq: int) -> ConsentRecord:
    draft = Draft(kind=Kind.MINOR, method=Method.SIGN_UP, jurisdiction="us-ca", subject_ref="s-1")
    return ConsentRecord(seq=seq, at=T0, draft=draft)


def test_the_example_declaration_gives_each_purpose_its_nature() -> None:
    assert AUDIO.nature(ORDERS) is Nature.NECESSARY
    assert AUDIO.nature(MARKETING) is Nature.COMMUNICATIONS
    assert AUDIO.nature(ADVERTISING) is Nature.SALE_OR_SHARING
    assert AUDIO.nature(AD_TRACKERS) is Nature.SALE_OR_SHARING
    assert AUDIO.email_topic == MARKETING
    assert AUDIO.minimum_age == 16


@pytest.mark.parametrize(
    ("use", "basis", "shared", "nature"),
    [
        ("essential.service.payment_processing", "", False, Nature.NECESSARY),
        ("third_party_sharing.legal_obligation", "", False, Nature.NECESSARY),
        ("third_party_sharing", "Consent", False, Nature.SALE_OR_SHARING),
        ("marketing.advertising.third_party.targeted", "Contract", False, Nature.SALE_OR_SHARING),
        ("marketing.communications.email", "Legitimate interest", False, Nature.COMMUNICATIONS),
        ("functional.service.improve", "Consent", True, Nature.SALE_OR_SHARING),
        ("analytics.reporting", "Legitimate interest", False, Nature.ANALYTICS),
        ("finance", "Legitimate interest", False, Nature.LEGITIMATE_INTEREST),
        ("functional.service", "Contract", False, Nature.NECESSARY),
        ("personalize", "Consent", False, Nature.ORDINARY),
    ],
)
def test_nature_comes_from_data_use_then_legal_basis(
    use: str, basis: str, shared: bool, nature: Nature
) -> None:
    assert nature_of_use(use, legal_basis=basis, sold_or_shared=shared) is nature


def test_eu_is_opt_in_and_us_opt_out_when_nothing_is_recorded() -> None:
    eu = decide([], PERSONALIZATION, policy=AUDIO, jurisdiction="eu")
    us = decide([], PERSONALIZATION, policy=AUDIO, jurisdiction="us-ca")
    assert (eu.allowed, eu.basis) == (False, "default_opt_in")
    assert (us.allowed, us.basis) == (True, "default_opt_out")


def test_marketing_mail_needs_an_opt_in_even_in_the_us() -> None:
    """Seed P5: marketing is opt-in, whatever US law would allow."""
    answer = decide([], MARKETING, policy=AUDIO, jurisdiction="us")
    assert (answer.allowed, answer.basis) == (False, "default_opt_in")
    granted = decide(
        [rec(1, MARKETING, Choice.GRANTED)], MARKETING, policy=AUDIO, jurisdiction="us"
    )
    assert (granted.allowed, granted.record) == (True, 1)


def test_a_withdrawal_names_article_7_3_and_the_record() -> None:
    history = [rec(1, MARKETING, Choice.GRANTED), rec(2, MARKETING, Choice.WITHDRAWN, minutes=5)]
    answer = decide(history, MARKETING, policy=AUDIO, jurisdiction="eu")
    assert (answer.allowed, answer.basis, answer.record) == (False, "withdrawn", 2)
    assert "7(3)" in answer.reason


def test_records_about_other_topics_do_not_count() -> None:
    answer = decide(
        [rec(1, ANALYTICS, Choice.GRANTED)], PERSONALIZATION, policy=AUDIO, jurisdiction="eu"
    )
    assert answer.basis == "default_opt_in"


def test_gpc_beats_an_explicit_grant_for_advertising_but_not_for_first_party_uses() -> None:
    history = [rec(1, ADVERTISING, Choice.GRANTED), rec(2, PERSONALIZATION, Choice.GRANTED)]
    on = Signals(gpc=True)
    assert (
        decide(history, ADVERTISING, policy=AUDIO, jurisdiction="us-ca", signals=on).basis == "gpc"
    )
    assert decide(history, PERSONALIZATION, policy=AUDIO, jurisdiction="us-ca", signals=on).allowed


def test_dnt_counts_only_where_the_declaration_honours_it() -> None:
    honouring = Policy(
        natures=AUDIO.natures,
        minimum_age=16,
        dnt_honoured=True,
        default_jurisdiction="us",
        email_topic=MARKETING,
    )
    on = Signals(dnt=True)
    assert decide([], ANALYTICS, policy=AUDIO, jurisdiction="us", signals=on).allowed
    answer = decide([], ANALYTICS, policy=honouring, jurisdiction="us", signals=on)
    assert (answer.allowed, answer.basis) == (False, "dnt")


def test_a_known_minor_gets_no_marketing_whatever_was_granted() -> None:
    """Seeds P12, H2."""
    history = [
        minor_flag(1),
        rec(2, MARKETING, Choice.GRANTED),
        rec(3, PERSONALIZATION, Choice.GRANTED),
    ]
    answer = decide(history, MARKETING, policy=AUDIO, jurisdiction="us")
    assert (answer.allowed, answer.basis) == (False, "known_minor")
    assert "16" in answer.reason
    assert decide(history, PERSONALIZATION, policy=AUDIO, jurisdiction="us").allowed


def test_an_undeclared_purpose_is_refused() -> None:
    with pytest.raises(ConsentError, match="not a declared purpose"):
        decide([], Topic("purpose", "no_such_purpose"), policy=AUDIO, jurisdiction="eu")


@pytest.mark.parametrize(
    "text", ["purpose:Orders", "cookie:analytics", "category:pixels", "orders"]
)
def test_malformed_topics_are_refused(text: str) -> None:
    with pytest.raises(ConsentError):
        Topic.parse(text)


def test_evidence_is_small_flat_and_free_of_obvious_personal_data() -> None:
    assert evidence({"button": "accept_all", "page": "/"}) == '{"button":"accept_all","page":"/"}'
    for bad in ({"who": "ana@example.com"}, {"ip": "203.0.113.9"}, {"ip": "2001:db8::1"}):
        with pytest.raises(ConsentError, match="personal data"):
            evidence(bad)  # type: ignore[arg-type]
    with pytest.raises(ConsentError, match="larger"):
        evidence({"blob": "x" * 3000})
    with pytest.raises(ConsentError, match="strings, numbers"):
        evidence({"nested": {"a": 1}})  # type: ignore[dict-item]


def test_jurisdiction_codes_are_checked() -> None:
    assert jurisdiction(" US-CA ") == "us-ca"
    with pytest.raises(ConsentError):
        jurisdiction("california")


def test_a_draft_must_name_someone_and_match_its_kind() -> None:
    with pytest.raises(ConsentError, match="subject, a consent ID"):
        Draft(kind=Kind.MINOR, method=Method.API, jurisdiction="eu")
    with pytest.raises(ConsentError, match="needs both"):
        Draft(kind=Kind.LINK, method=Method.SIGN_IN, jurisdiction="eu", subject_ref="s")
    with pytest.raises(ConsentError, match="topic and choice"):
        Draft(kind=Kind.CHOICE, method=Method.API, jurisdiction="eu", subject_ref="s")


# Property tests over arbitrary histories.

TOPICS = sorted(AUDIO.natures)
topics = st.sampled_from(TOPICS)
choices = st.sampled_from(list(Choice))
places = st.sampled_from(["eu", "uk", "us", "us-ca", "in", "ca"])


@st.composite
def histories(draw: st.DrawFn) -> list[ConsentRecord]:
    items = draw(st.lists(st.tuples(topics, choices, st.integers(0, 10_000)), max_size=25))
    records = [rec(i + 1, t, c, minutes=m) for i, (t, c, m) in enumerate(items)]
    if draw(st.booleans()):
        records.append(minor_flag(len(records) + 1))
    return records


@given(histories(), places, st.booleans(), st.booleans())
def test_strictly_necessary_is_always_allowed(
    history: list[ConsentRecord], where: str, gpc: bool, dnt: bool
) -> None:
    answer = decide(history, NECESSARY, policy=AUDIO, jurisdiction=where, signals=Signals(gpc, dnt))
    assert answer.allowed


@given(histories(), places)
def test_gpc_always_denies_advertising_and_sharing(
    history: list[ConsentRecord], where: str
) -> None:
    for topic, nature in AUDIO.natures.items():
        if nature is Nature.SALE_OR_SHARING:
            answer = decide(
                history, topic, policy=AUDIO, jurisdiction=where, signals=Signals(gpc=True)
            )
            assert not answer.allowed


@given(histories(), topics, places, st.integers(1, 10_000))
def test_a_withdrawal_after_a_grant_always_denies(
    history: list[ConsentRecord], topic: Topic, where: str, later: int
) -> None:
    """GDPR Art. 7(3): the newest choice wins, and a withdrawal is as binding as a grant."""
    if AUDIO.nature(topic) is Nature.NECESSARY:
        return
    last = max((r.at for r in history), default=T0)
    minutes = int((last - T0).total_seconds() // 60) + later
    history = [
        *history,
        rec(len(history) + 1, topic, Choice.GRANTED, minutes=minutes),
        rec(len(history) + 2, topic, Choice.WITHDRAWN, minutes=minutes + 1),
    ]
    assert not decide(history, topic, policy=AUDIO, jurisdiction=where).allowed


@given(histories(), topics, places)
def test_the_answer_does_not_depend_on_the_order_records_arrive_in(
    history: list[ConsentRecord], topic: Topic, where: str
) -> None:
    forward = decide(history, topic, policy=AUDIO, jurisdiction=where)
    backward = decide(list(reversed(history)), topic, policy=AUDIO, jurisdiction=where)
    assert forward == backward
