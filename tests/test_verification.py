"""Identity verification: e-mail proof codes, data-point matching, agents, account tokens.

All of it is pure, so every test passes the moment it means and the keys it
uses; nothing here reads the clock, and nothing measures time: "constant time"
is checked by counting calls to :func:`hmac.compare_digest`, never by a stopwatch.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import string
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from covenant.requests import codes
from covenant.requests.codes import Challenge, Outcome, check, issue_code, issue_link
from covenant.requests.lifecycle import Kind
from covenant.requests.verification import (
    STANDARD_POINTS,
    AgentEvidence,
    AgentPolicy,
    Certainty,
    ConsumerStep,
    PointType,
    RecordValue,
    TokenProblem,
    TokenRefused,
    Verdict,
    check_agent,
    match_points,
    mint_token,
    normalize,
    read_token,
    verdict_rank,
    verify_points,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
T0 = dt.datetime(2024, 3, 5, 17, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)


def fixed(value: int) -> Callable[[int], int]:
    """A stand-in for secrets.randbelow that always draws ``value``."""
    return lambda bound: value % bound


# --- E-mail proof codes ---------------------------------------------------------


def test_a_code_has_eight_digits_and_keeps_leading_zeros() -> None:
    code, _ = issue_code(T0, KEY, randbelow=fixed(42))
    assert code == "00000042"


def test_the_stored_hash_is_never_the_code_and_depends_on_the_key() -> None:
    code, challenge = issue_code(T0, KEY, randbelow=fixed(12345678))
    assert challenge.hash != code
    assert code not in challenge.hash
    assert len(challenge.hash) == 64  # hex of HMAC-SHA-256
    _, under_other_key = issue_code(T0, OTHER_KEY, randbelow=fixed(12345678))
    assert under_other_key.hash != challenge.hash
    # A plain hash of the code, which a leaked row would let anyone test, is not it.
    assert challenge.hash != hashlib.sha256(code.encode()).hexdigest()


def test_defaults_are_thirty_minutes_and_five_attempts() -> None:
    _, challenge = issue_code(T0, KEY)
    assert challenge.expires_at == T0 + dt.timedelta(minutes=30)
    assert challenge.attempts_left == 5


def test_the_right_code_passes_once_and_a_replay_is_refused() -> None:
    code, challenge = issue_code(T0, KEY, randbelow=fixed(12345678))
    outcome, spent = check(challenge, code, T0 + MINUTE, KEY)
    assert outcome is Outcome.PASSED
    assert spent.attempts_left == 0
    assert not spent.usable(T0 + MINUTE)
    assert check(spent, code, T0 + 2 * MINUTE, KEY)[0] is Outcome.EXHAUSTED


def test_a_wrong_code_costs_one_attempt_and_the_right_one_still_passes() -> None:
    code, challenge = issue_code(T0, KEY, randbelow=fixed(12345678))
    outcome, after = check(challenge, "87654321", T0 + MINUTE, KEY)
    assert (outcome, after.attempts_left) == (Outcome.WRONG, 4)
    assert after.hash == challenge.hash
    assert check(after, code, T0 + 2 * MINUTE, KEY)[0] is Outcome.PASSED


@pytest.mark.parametrize("typed", ["1234 5678", " 12345678\n", "1234-5678", "12 34 56 78"])
def test_a_code_retyped_with_spaces_or_dashes_passes(typed: str) -> None:
    _, challenge = issue_code(T0, KEY, randbelow=fixed(12345678))
    assert check(challenge, typed, T0, KEY)[0] is Outcome.PASSED


def test_a_code_expires_at_its_deadline() -> None:
    code, challenge = issue_code(T0, KEY, ttl=dt.timedelta(minutes=30), randbelow=fixed(7))
    deadline = T0 + dt.timedelta(minutes=30)
    assert check(challenge, code, deadline - SECOND, KEY)[0] is Outcome.PASSED
    outcome, after = check(challenge, code, deadline, KEY)
    assert outcome is Outcome.EXPIRED
    assert after == challenge  # an expired challenge is not worn down further


def test_after_five_wrong_codes_even_the_right_one_is_refused() -> None:
    code, challenge = issue_code(T0, KEY, randbelow=fixed(12345678))
    outcomes = []
    for guess in ("00000000", "00000001", "00000002", "00000003", "00000004"):
        outcome, challenge = check(challenge, guess, T0, KEY)
        outcomes.append(outcome)
    assert outcomes == [Outcome.WRONG] * 5
    assert challenge.attempts_left == 0
    assert check(challenge, code, T0, KEY) == (Outcome.EXHAUSTED, challenge)


def test_a_link_token_is_url_safe_and_its_dashes_are_kept() -> None:
    raw = bytes([0xFB, 0xEF]) * 16  # encodes to "-_-v" repeated: the URL-safe extras
    token, challenge = issue_link(T0, KEY, token_bytes=lambda n: raw[:n])
    assert "-" in token
    assert "_" in token
    assert "=" not in token
    assert check(challenge, token, T0, KEY)[0] is Outcome.PASSED
    assert check(challenge, token.replace("-", ""), T0, KEY)[0] is Outcome.WRONG


def test_an_overlong_answer_is_simply_wrong() -> None:
    _, challenge = issue_code(T0, KEY, randbelow=fixed(1))
    outcome, after = check(challenge, "9" * 100_000, T0, KEY)
    assert (outcome, after.attempts_left) == (Outcome.WRONG, 4)


def test_every_check_compares_in_constant_time_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def counting(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    code, challenge = issue_code(T0, KEY, attempts=1, randbelow=fixed(5))
    check(challenge, code, T0, KEY)  # passed
    _, dead = check(challenge, "11111111", T0, KEY)  # wrong, now exhausted
    check(dead, code, T0, KEY)  # exhausted
    check(challenge, code, T0 + dt.timedelta(hours=1), KEY)  # expired
    # One comparison on every path, so the work does not reveal the state.
    assert len(calls) == 4


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: issue_code(T0, b"short"), "at least 32 bytes"),
        (lambda: issue_code(T0.replace(tzinfo=None), KEY), "timezone-aware"),
        (lambda: issue_code(T0, KEY, attempts=0), "at least one attempt"),
        (lambda: issue_code(T0, KEY, ttl=dt.timedelta(0)), "some time"),
        (lambda: issue_link(T0, KEY, token_bytes=lambda n: b"x"), "32 bytes"),
    ],
)
def test_misuse_is_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@given(
    secret=st.integers(min_value=0, max_value=10**8 - 1),
    attempts=st.integers(min_value=1, max_value=8),
    guesses=st.lists(st.text(max_size=12), min_size=8, max_size=8),
    later=st.lists(st.one_of(st.text(max_size=12), st.just("CODE")), min_size=1, max_size=5),
)
def test_a_code_never_passes_once_the_attempts_run_out(
    secret: int, attempts: int, guesses: list[str], later: list[str]
) -> None:
    code, challenge = issue_code(T0, KEY, attempts=attempts, randbelow=fixed(secret))
    wrong = [g for g in guesses if codes.normalize(g) != code][:attempts]
    wrong += [f"{(secret + i + 1) % 10**8:08d}" for i in range(attempts - len(wrong))]
    for guess in wrong:
        outcome, challenge = check(challenge, guess, T0, KEY)
        assert outcome is Outcome.WRONG
    for guess in later:
        outcome, challenge = check(challenge, code if guess == "CODE" else guess, T0, KEY)
        assert outcome is Outcome.EXHAUSTED


@given(secret=st.integers(min_value=0, max_value=10**8 - 1))
def test_the_hash_is_never_the_code(secret: int) -> None:
    code, challenge = issue_code(T0, KEY, randbelow=fixed(secret))
    assert challenge.hash != code
    assert code not in challenge.hash


# --- Normalizing data points ----------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "typed", "held"),
    [
        (PointType.PHONE, "+1 (415) 555-0100", "4155550100"),
        (PointType.PHONE, "415.555.0100", "1-415-555-0100"),
        (PointType.PHONE, "+44 20 7946 0958", "020 7946 0958"),
        (PointType.CARD_LAST4, "4242", "**** **** **** 4242"),
        (PointType.CARD_LAST4, " 42 42 ", "4242"),
        (PointType.POSTAL_CODE, "94107", "94107-1234"),
        (PointType.POSTAL_CODE, " 94107 ", "941071234"),
        (PointType.POSTAL_CODE, "sw1a 1aa", "SW1A 1AA"),
        (PointType.DATE, "03/05/2024", "2024-03-05"),
        (PointType.DATE, "3/5/2024", dt.date(2024, 3, 5)),
        (PointType.DATE, "March 5, 2024", dt.datetime(2024, 3, 5, 23, 59)),
        (PointType.DATE, "5th March 2024", "2024-03-05T08:00:00Z"),
        (PointType.DATE, "Mar. 5 2024", "2024/03/05"),
        (PointType.DATE_DAY_FIRST, "05/03/2024", "2024-03-05"),
        (PointType.DATE_DAY_FIRST, "5.3.2024", "5 March 2024"),
        (PointType.AMOUNT, "$42.5", Decimal("42.50")),
        (PointType.AMOUNT, "1,234.00", "1234"),
        (PointType.AMOUNT, "1.234,00 €", 1234),
        (PointType.AMOUNT, "42,50", "42.50"),
        (PointType.REFERENCE, "#A-1001", "a1001"),
        (PointType.TEXT, "  JOSÉ   o'brien", "Jose O Brien"),
    ],
)
def test_values_that_mean_the_same_normalize_the_same(
    kind: PointType, typed: str, held: str | int | Decimal | dt.date
) -> None:
    assert normalize(kind, typed) is not None
    assert normalize(kind, typed) == normalize(kind, held)


@pytest.mark.parametrize(
    ("kind", "typed", "held"),
    [
        (PointType.DATE, "03/05/2024", "2024-05-03"),  # US month-first by default
        (PointType.DATE_DAY_FIRST, "03/05/2024", "2024-03-05"),
        (PointType.PHONE, "415 555 0100", "415 555 0101"),
        (PointType.POSTAL_CODE, "94107", "94108"),
        (PointType.AMOUNT, "42.5", "42.05"),
        (PointType.CARD_LAST4, "4242", "4241"),
    ],
)
def test_values_that_differ_stay_different(
    kind: PointType, typed: str, held: str | int | Decimal | dt.date
) -> None:
    assert normalize(kind, typed) != normalize(kind, held)


@pytest.mark.parametrize(
    ("kind", "typed"),
    [
        (PointType.DATE, "yesterday"),
        (PointType.DATE, "02/30/2024"),
        (PointType.DATE, "03/05/24"),  # a two-digit year is not guessed
        (PointType.DATE, "Smarch 5, 2024"),
        (PointType.PHONE, "555-01"),
        (PointType.CARD_LAST4, "42"),
        (PointType.AMOUNT, "lots"),
        (PointType.AMOUNT, "1" * 40),
        (PointType.POSTAL_CODE, "   "),
        (PointType.TEXT, "?!"),
    ],
)
def test_values_that_mean_nothing_never_match(kind: PointType, typed: str) -> None:
    assert normalize(kind, typed) is None


# --- Matching and the verdict ---------------------------------------------------

RECORD: Mapping[str, RecordValue | Sequence[RecordValue] | None] = {
    "card_last4": "4242",
    "shipping_zip": ["10001", "94107-1234"],
    "last_order_date": dt.date(2024, 2, 29),
    "last_order_number": "A-1001",
    "phone": "+1 415 555 0100",
}
RIGHT = {
    "card_last4": "4242",
    "shipping_zip": "94107",
    "last_order_date": "February 29, 2024",
    "last_order_number": "a1001",
    "phone": "(415) 555-0100",
}
WRONG = {
    "card_last4": "1111",
    "shipping_zip": "60601",
    "last_order_date": "2023-01-01",
    "last_order_number": "B-2",
    "phone": "212 555 0199",
}
NAMES = sorted(RIGHT)


def supplied(right: int, wrong: int = 0) -> dict[str, str]:
    """``right`` correct details, then ``wrong`` incorrect ones, in a fixed order."""
    return {
        **{name: RIGHT[name] for name in NAMES[:right]},
        **{name: WRONG[name] for name in NAMES[right : right + wrong]},
    }


def verdict(
    kind: Kind,
    details: Mapping[str, str],
    *,
    declaration_signed: bool = False,
    sensitive: bool = False,
    contested: frozenset[str] = frozenset(),
) -> Verdict:
    return verify_points(
        kind,
        details,
        RECORD,
        declaration_signed=declaration_signed,
        sensitive=sensitive,
        contested=contested,
    )


def test_every_standard_point_matches_its_record() -> None:
    assert match_points(RIGHT, RECORD) == NAMES
    assert match_points(WRONG, RECORD) == []


@pytest.mark.parametrize(
    ("kind", "right", "declared", "sensitive", "verified", "downgrade"),
    [
        (Kind.KNOW_CATEGORIES, 1, False, False, False, None),
        (Kind.KNOW_CATEGORIES, 2, False, False, True, None),
        (Kind.KNOW_SPECIFIC, 1, True, False, False, None),
        (Kind.KNOW_SPECIFIC, 2, True, False, False, Kind.KNOW_CATEGORIES),
        (Kind.KNOW_SPECIFIC, 3, False, False, False, Kind.KNOW_CATEGORIES),
        (Kind.KNOW_SPECIFIC, 3, True, False, True, None),
        (Kind.ACCESS, 2, True, False, False, Kind.KNOW_CATEGORIES),
        (Kind.ACCESS, 3, True, False, True, None),
        (Kind.DELETE, 1, False, False, False, None),
        (Kind.DELETE, 2, False, False, True, None),
        (Kind.DELETE, 2, False, True, False, None),
        (Kind.DELETE, 3, False, True, True, None),
        (Kind.CORRECT, 2, False, False, True, None),
        (Kind.CORRECT, 2, False, True, False, None),
        (Kind.CORRECT, 3, False, True, True, None),
        (Kind.OPT_OUT_SALE, 0, False, False, True, None),
        (Kind.OPT_OUT_MARKETING, 0, False, True, True, None),
    ],
)
def test_how_much_proof_each_kind_needs(
    kind: Kind,
    right: int,
    declared: bool,
    sensitive: bool,
    verified: bool,
    downgrade: Kind | None,
) -> None:
    result = verdict(kind, supplied(right, 1), declaration_signed=declared, sensitive=sensitive)
    assert (result.verified, result.downgrade_to) == (verified, downgrade)
    assert result.matched == NAMES[:right] or not kind.needs_verification


@pytest.mark.parametrize(
    ("kind", "sensitive", "level"),
    [
        (Kind.KNOW_CATEGORIES, False, Certainty.REASONABLE),
        (Kind.KNOW_SPECIFIC, False, Certainty.REASONABLY_HIGH),
        (Kind.DELETE, False, Certainty.REASONABLE),
        (Kind.DELETE, True, Certainty.REASONABLY_HIGH),
        (Kind.OPT_OUT_SALE, True, Certainty.NOT_REQUIRED),
    ],
)
def test_the_verdict_names_the_degree_of_certainty_needed(
    kind: Kind, sensitive: bool, level: Certainty
) -> None:
    assert verdict(kind, {}, sensitive=sensitive).level is level


def test_reasons_are_plain_and_say_what_was_missing() -> None:
    refused = verdict(Kind.KNOW_SPECIFIC, supplied(2))
    assert refused.reason.startswith("We could not verify your identity because")
    assert "needs 3 that match" in refused.reason
    assert "signed declaration, under penalty of perjury" in refused.reason
    assert "answer your request as a request for the categories" in refused.reason
    assert verdict(Kind.KNOW_CATEGORIES, supplied(2)).reason.startswith("We verified your identity")
    assert "no proof" in verdict(Kind.OPT_OUT_SALE, {}).reason


@pytest.mark.parametrize("kind", [Kind.KNOW_CATEGORIES, Kind.KNOW_SPECIFIC, Kind.DELETE])
def test_a_refusal_reads_the_same_whether_or_not_the_person_is_a_customer(kind: Kind) -> None:
    # One detail right, none, or no record at all: the requester must not be
    # able to tell these apart, or the answer would reveal a customer.
    details = supplied(1, 3)
    no_record = verify_points(kind, details, {}, declaration_signed=True)
    some_match = verdict(kind, details, declaration_signed=True)
    no_match = verdict(kind, supplied(0, 4), declaration_signed=True)
    assert [v.verified for v in (no_record, some_match, no_match)] == [False] * 3
    assert no_record.reason == some_match.reason == no_match.reason
    assert type(no_record) is type(some_match) is Verdict


def test_a_correction_is_never_verified_with_the_contested_data() -> None:
    details = {"shipping_zip": "94107", "phone": "415 555 0100"}
    plain = verdict(Kind.CORRECT, details)
    assert plain.verified
    contested = verdict(Kind.CORRECT, details, contested=frozenset({"shipping_zip"}))
    assert not contested.verified
    assert contested.matched == ["phone"]
    assert "asked us to correct cannot be used" in contested.reason
    other = verdict(
        Kind.CORRECT, {**details, "card_last4": "4242"}, contested=frozenset({"shipping_zip"})
    )
    assert other.verified
    assert other.matched == ["card_last4", "phone"]


def test_only_a_correction_contests_data() -> None:
    with pytest.raises(ValueError, match="correct"):
        verdict(Kind.DELETE, supplied(2), contested=frozenset({"phone"}))


def test_only_points_the_store_relies_on_count() -> None:
    details = {**supplied(1), "full_name": "Ada Lovelace", "email": "ada@example.com"}
    record = {**RECORD, "full_name": "Ada Lovelace", "email": "ada@example.com"}
    assert match_points(details, record) == ["card_last4"]


def test_one_fact_listed_under_two_names_counts_once() -> None:
    points = {"phone": PointType.PHONE, "mobile": PointType.PHONE, "zip": PointType.POSTAL_CODE}
    record = {"phone": "4155550100", "mobile": "+1 415 555 0100", "zip": "94107"}
    details = {"phone": "415-555-0100", "mobile": "4155550100"}
    assert match_points(details, record, points=points) == ["mobile"]
    assert not verify_points(Kind.KNOW_CATEGORIES, details, record, points=points).verified


def test_a_point_the_store_does_not_hold_does_not_match() -> None:
    assert match_points({"phone": "4155550100"}, {"phone": None}) == []
    assert match_points({"phone": "4155550100"}, {"phone": []}) == []


point_choices = st.dictionaries(st.sampled_from(NAMES), st.booleans())


@given(
    kind=st.sampled_from(list(Kind)),
    base=point_choices,
    more=st.sets(st.sampled_from(NAMES)),
    declared=st.booleans(),
    sensitive=st.booleans(),
)
def test_more_matching_points_never_lower_the_verdict(
    kind: Kind, base: dict[str, bool], more: set[str], declared: bool, sensitive: bool
) -> None:
    before = {name: (RIGHT if right else WRONG)[name] for name, right in base.items()}
    after = {**before, **{name: RIGHT[name] for name in more}}
    first = verdict(kind, before, declaration_signed=declared, sensitive=sensitive)
    second = verdict(kind, after, declaration_signed=declared, sensitive=sensitive)
    assert set(first.matched) <= set(second.matched)
    assert verdict_rank(second) >= verdict_rank(first)


# --- Authorized agents ----------------------------------------------------------

EVERYTHING = AgentEvidence(
    agent_identified=True,
    signed_permission=True,
    consumer_verified=True,
    consumer_confirmed=True,
)


def test_an_agent_with_nothing_yet_is_told_everything_missing() -> None:
    check_ = check_agent(
        Kind.DELETE, AgentEvidence(), AgentPolicy(consumer_step=ConsumerStep.VERIFY)
    )
    assert not check_.ready
    assert len(check_.missing) == 3
    assert "your own identity as the agent" in check_.missing[0]
    assert "signed by the consumer" in check_.missing[1]
    assert "verify their own identity with us directly" in check_.missing[2]
    assert check_.reason.startswith("Before we can act on this request we still need:")


def test_an_agent_with_everything_is_ready() -> None:
    policy = AgentPolicy(consumer_step=ConsumerStep.VERIFY)
    result = check_agent(Kind.KNOW_SPECIFIC, EVERYTHING, policy)
    assert result.ready
    assert result.missing == []
    assert "everything we need" in result.reason


def test_a_power_of_attorney_stands_in_for_permission_and_the_consumer_step() -> None:
    policy = AgentPolicy(consumer_step=ConsumerStep.CONFIRM)
    evidence = AgentEvidence(power_of_attorney=True)
    assert check_agent(Kind.DELETE, evidence, policy).missing == [
        check_agent(Kind.DELETE, AgentEvidence(), policy).missing[0]
    ]
    assert check_agent(
        Kind.DELETE, AgentEvidence(agent_identified=True, power_of_attorney=True), policy
    ).ready


@pytest.mark.parametrize(
    ("step", "evidence", "ready"),
    [
        (ConsumerStep.NONE, AgentEvidence(agent_identified=True, signed_permission=True), True),
        (
            ConsumerStep.VERIFY,
            AgentEvidence(agent_identified=True, signed_permission=True, consumer_confirmed=True),
            False,
        ),
        (
            ConsumerStep.CONFIRM,
            AgentEvidence(agent_identified=True, signed_permission=True, consumer_confirmed=True),
            True,
        ),
        (
            ConsumerStep.VERIFY_OR_CONFIRM,
            AgentEvidence(agent_identified=True, signed_permission=True, consumer_verified=True),
            True,
        ),
        (
            ConsumerStep.VERIFY_OR_CONFIRM,
            AgentEvidence(agent_identified=True, signed_permission=True),
            False,
        ),
    ],
)
def test_the_consumer_step_follows_the_declaration(
    step: ConsumerStep, evidence: AgentEvidence, ready: bool
) -> None:
    assert check_agent(Kind.CORRECT, evidence, AgentPolicy(consumer_step=step)).ready is ready


def test_an_opt_out_through_an_agent_needs_permission_but_nothing_from_the_consumer() -> None:
    policy = AgentPolicy(consumer_step=ConsumerStep.VERIFY)
    evidence = AgentEvidence(agent_identified=True)
    result = check_agent(Kind.OPT_OUT_SALE, evidence, policy)
    assert len(result.missing) == 1
    assert "signed by the consumer" in result.missing[0]


def test_a_store_may_waive_the_signed_permission() -> None:
    evidence = AgentEvidence(agent_identified=True)
    assert check_agent(Kind.DELETE, evidence, AgentPolicy(signed_permission=False)).ready


_FLAGS = list(itertools.product([False, True], repeat=5))


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("step", list(ConsumerStep))
def test_a_power_of_attorney_is_never_demanded(kind: Kind, step: ConsumerStep) -> None:
    for flags in _FLAGS:
        result = check_agent(kind, AgentEvidence(*flags), AgentPolicy(consumer_step=step))
        for item in result.missing:
            assert "power of attorney" not in item or "never need one" in item


# --- Signed tokens from the store's login ---------------------------------------


def test_a_minted_token_reads_back() -> None:
    token = mint_token("cust-42", key=KEY, issued_at=T0)
    account = read_token(token, key=KEY, now=T0 + MINUTE)
    assert account.subject == "cust-42"
    assert account.issued_at == T0
    assert account.expires_at == T0 + dt.timedelta(minutes=5)
    assert set(token) <= set(string.ascii_letters + string.digits + "-_.")


def test_every_single_character_edit_is_refused() -> None:
    token = mint_token("cust-42", key=KEY, issued_at=T0)
    for i, char in enumerate(token):
        for replacement in {"A", "Q", "w", "-", "_", "."} - {char}:
            edited = token[:i] + replacement + token[i + 1 :]
            with pytest.raises(TokenRefused) as refused:
                read_token(edited, key=KEY, now=T0)
            assert refused.value.problem in (TokenProblem.TAMPERED, TokenProblem.MALFORMED)


def test_a_token_signed_with_another_key_is_tampered() -> None:
    token = mint_token("cust-42", key=OTHER_KEY, issued_at=T0)
    with pytest.raises(TokenRefused) as refused:
        read_token(token, key=KEY, now=T0)
    assert refused.value.problem is TokenProblem.TAMPERED


def test_expiry_allows_for_clock_skew() -> None:
    token = mint_token("c", key=KEY, issued_at=T0, ttl=dt.timedelta(minutes=5))
    expiry = T0 + dt.timedelta(minutes=5)
    skew = dt.timedelta(minutes=2)
    assert read_token(token, key=KEY, now=expiry + skew - SECOND, skew=skew).subject == "c"
    with pytest.raises(TokenRefused) as refused:
        read_token(token, key=KEY, now=expiry + skew, skew=skew)
    assert refused.value.problem is TokenProblem.EXPIRED
    with pytest.raises(TokenRefused):
        read_token(token, key=KEY, now=expiry, skew=dt.timedelta(0))


def test_a_token_from_a_clock_slightly_ahead_is_accepted_but_not_one_far_ahead() -> None:
    token = mint_token("c", key=KEY, issued_at=T0 + MINUTE)
    assert read_token(token, key=KEY, now=T0, skew=2 * MINUTE).subject == "c"
    with pytest.raises(TokenRefused) as refused:
        read_token(token, key=KEY, now=T0, skew=dt.timedelta(seconds=30))
    assert refused.value.problem is TokenProblem.NOT_YET_VALID


def test_a_long_lived_token_is_refused_once_the_sign_in_is_stale() -> None:
    token = mint_token("c", key=KEY, issued_at=T0, ttl=dt.timedelta(days=1))
    limit = T0 + dt.timedelta(minutes=15) + dt.timedelta(minutes=2)
    assert read_token(token, key=KEY, now=limit).subject == "c"
    with pytest.raises(TokenRefused) as refused:
        read_token(token, key=KEY, now=limit + SECOND)
    assert refused.value.problem is TokenProblem.STALE


def _signed(payload: object, key: bytes = KEY) -> str:
    """A token made the way the store's login makes one, written out by hand."""
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    mac = hmac.new(key, b"covenant.account-token.v1." + body.encode(), hashlib.sha256)
    return body + "." + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def test_the_wire_format_is_what_the_docs_say() -> None:
    iat = int(T0.timestamp())
    token = _signed({"sub": "cust-7", "iat": iat, "exp": iat + 60})
    assert read_token(token, key=KEY, now=T0).subject == "cust-7"


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2, 3],
        {"iat": 1709658000, "exp": 1709658060},
        {"sub": "", "iat": 1709658000, "exp": 1709658060},
        {"sub": 7, "iat": 1709658000, "exp": 1709658060},
        {"sub": "c", "iat": True, "exp": 1709658060},
        {"sub": "c", "iat": "1709658000", "exp": 1709658060},
        {"sub": "c", "iat": 1709658000, "exp": 1709658000},
        {"sub": "c", "iat": 1709658000, "exp": 10**20},
    ],
)
def test_a_signed_but_senseless_payload_is_malformed(payload: object) -> None:
    with pytest.raises(TokenRefused) as refused:
        read_token(_signed(payload), key=KEY, now=T0)
    assert refused.value.problem is TokenProblem.MALFORMED


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a b.c", "x" * 5000 + ".y"])
def test_a_token_of_the_wrong_shape_is_malformed(token: str) -> None:
    with pytest.raises(TokenRefused) as refused:
        read_token(token, key=KEY, now=T0)
    assert refused.value.problem is TokenProblem.MALFORMED


def test_the_requester_hears_one_message_whatever_was_wrong() -> None:
    messages = {TokenRefused(problem).message for problem in TokenProblem}
    assert len(messages) == 1
    assert "sign in" in messages.pop()
    assert TokenRefused(TokenProblem.EXPIRED).status == 401


def test_token_misuse_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        mint_token("c", key=b"short", issued_at=T0)
    with pytest.raises(ValueError, match="subject"):
        mint_token("", key=KEY, issued_at=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        read_token(mint_token("c", key=KEY, issued_at=T0), key=KEY, now=T0.replace(tzinfo=None))


def test_standard_points_leave_out_the_email_and_the_name() -> None:
    assert "email" not in STANDARD_POINTS
    assert not any("name" in point for point in STANDARD_POINTS if point != "last_order_number")


def test_a_challenge_is_a_frozen_record() -> None:
    _, challenge = issue_code(T0, KEY)
    with pytest.raises(AttributeError):
        challenge.attempts_left = 99  # type: ignore[misc]
    assert isinstance(challenge, Challenge)
