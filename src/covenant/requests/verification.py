"""Deciding whether a requester is who they say: data points, agents, account tokens.

Owns three decisions, each a pure function of its inputs:

* :func:`verify_points` -- whether the details a requester gave match the
  store's own records closely enough for the kind of request (CCPA regs,
  Cal. Code Regs. tit. 11 §7062), with the plain-language reason the requester
  is told (seed P18) and the fall-back from specific pieces to categories
  (§7024(a));
* :func:`check_agent` -- what an authorized agent's request still lacks
  (§7063, seed P20);
* :func:`read_token` -- whether a sign-in token from the store's own login is
  genuine and fresh (§7061), with :func:`mint_token` to make one.

E-mail proof codes live next door in :mod:`covenant.requests.codes`.

Never performs I/O and never reads the clock: the records to match against, the
moment ``now`` and every key come in as parameters. It never looks a person up
either: the caller finds the candidate record (or none) and passes its values,
and the answer has the same shape, and the same words, whether or not a record
was found, so it can never tell a requester that someone is a customer. It
never asks for a password (H23) and never demands a power of attorney (P20).
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TypeGuard

from covenant.errors import CovenantError
from covenant.requests.lifecycle import Kind

# --- How much proof each kind of request needs --------------------------------

REASONABLE_POINTS = 2
"""§7062(b): "a reasonable degree of certainty" -- at least two data points."""
REASONABLY_HIGH_POINTS = 3
"""§7062(c): "a reasonably high degree of certainty" -- at least three."""


class Certainty(enum.StrEnum):
    """The degree of certainty a request needs, in the words of §7062."""

    NOT_REQUIRED = "not_required"
    REASONABLE = "reasonable"
    REASONABLY_HIGH = "reasonably_high"


@dataclass(frozen=True, slots=True)
class Requirement:
    level: Certainty
    points: int
    """How many distinct data points must match."""
    declaration: bool
    """Whether a signed declaration under penalty of perjury is also needed."""


_SPECIFIC = frozenset({Kind.KNOW_SPECIFIC, Kind.ACCESS})
# A copy of the data (access, export) discloses specific pieces just as a
# request to know them does, so it needs the same proof (§7062(c)).


def requirement(kind: Kind, *, sensitive: bool = False) -> Requirement:
    """The proof a kind of request needs.

    ``sensitive`` says whether the data a deletion or correction would touch is
    sensitive enough, or its loss harmful enough, to need the higher degree
    (§7062(d) for deletion, §7062(e) for correction); it is the store's call,
    made in its declaration, and it has no effect on other kinds.
    """
    if not kind.needs_verification:
        # Opt-outs need no verification (§7026(d)).
        return Requirement(Certainty.NOT_REQUIRED, 0, declaration=False)
    if kind in _SPECIFIC:
        return Requirement(Certainty.REASONABLY_HIGH, REASONABLY_HIGH_POINTS, declaration=True)
    if kind in (Kind.DELETE, Kind.CORRECT) and sensitive:
        return Requirement(Certainty.REASONABLY_HIGH, REASONABLY_HIGH_POINTS, declaration=False)
    return Requirement(Certainty.REASONABLE, REASONABLE_POINTS, declaration=False)


# --- Normalizing data points ----------------------------------------------------


class PointType(enum.StrEnum):
    """How a data point's values are compared: each type has one normal form."""

    TEXT = "text"
    """Case, accents, punctuation and spacing ignored."""
    REFERENCE = "reference"
    """An order or account number: letters and digits only ("#A-100" is "a100")."""
    CARD_LAST4 = "card_last4"
    """The last four digits of a payment card."""
    POSTAL_CODE = "postal_code"
    """A US ZIP (ZIP+4 reduced to 5 digits) or another country's postal code."""
    PHONE = "phone"
    """Digits only; the last 10 digits compared, so "+1 415..." is "415..."."""
    DATE = "date"
    """ISO, month-first US numeric (03/05/2024), or with a month name."""
    DATE_DAY_FIRST = "date_day_first"
    """As :attr:`DATE`, but numeric dates read day first (05/03/2024)."""
    AMOUNT = "amount"
    """A sum of money to the cent; currency signs and thousands separators ignored."""


STANDARD_POINTS: Mapping[str, PointType] = {
    "card_last4": PointType.CARD_LAST4,
    "shipping_zip": PointType.POSTAL_CODE,
    "last_order_date": PointType.DATE,
    "last_order_number": PointType.REFERENCE,
    "last_order_total": PointType.AMOUNT,
    "phone": PointType.PHONE,
    "date_of_birth": PointType.DATE,
}
"""Data points a store of goods usually holds and a stranger usually does not.

The e-mail address is missing on purpose: it is how the candidate record was
found, so matching it again proves nothing. So is the name, which anyone who
knows the person knows; §7062(b) counts only points the business has found
"reliable for the purpose of verifying the consumer".
"""

RecordValue = str | int | Decimal | dt.date
"""One value the store holds; a ``datetime`` counts by its date."""

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
# English month names are spelled out here rather than read through strptime's
# %B, which follows the process locale: a pure function must not.

_ISO_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?")
_NUMERIC_DATE = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_US_ZIP = re.compile(r"(\d{5})(?:-?\d{4})?")


def normalize_text(value: str) -> str | None:
    decomposed = unicodedata.normalize("NFKD", value)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = re.sub(r"[\W_]+", " ", bare).split()
    return " ".join(words) or None


def normalize_reference(value: str) -> str | None:
    text = normalize_text(value)
    return text.replace(" ", "") if text else None


def normalize_card_last4(value: str) -> str | None:
    digits = re.sub(r"\D", "", value)
    return digits[-4:] if len(digits) >= 4 else None


def normalize_postal_code(value: str) -> str | None:
    compact = re.sub(r"\s", "", value).upper()
    zip_code = _US_ZIP.fullmatch(compact)
    if zip_code:
        return zip_code.group(1)
    return compact or None


def normalize_phone(value: str) -> str | None:
    # The last 10 digits are the national number in North America and close
    # to it elsewhere, so "+1 (415) 555-0100", "1-415-555-0100" and
    # "415.555.0100" meet, as do "+44 20 7946 0958" and "020 7946 0958".
    digits = re.sub(r"\D", "", value)
    if len(digits) < 7:
        return None
    return digits[-10:]


def normalize_date(value: str, *, day_first: bool = False) -> str | None:
    """The ISO date a typed date means, or ``None`` when it is not one.

    Two-digit years are refused rather than guessed: guessing the century
    would need today's date, and a wrong guess is a false mismatch at best.
    """
    text = value.strip()
    if iso := _ISO_DATE.fullmatch(text):
        year, month, day = (int(part) for part in iso.groups())
    elif numeric := _NUMERIC_DATE.fullmatch(text):
        first, second, year = (int(part) for part in numeric.groups())
        day, month = (first, second) if day_first else (second, first)
    else:
        named = _named_date(text)
        if named is None:
            return None
        year, month, day = named
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def normalize_amount(value: str) -> str | None:
    number = re.sub(r"[^\d.,-]", "", value)
    if "," in number and "." in number:
        # Whichever separator comes last is the decimal point.
        if number.rfind(",") > number.rfind("."):
            number = number.replace(".", "").replace(",", ".")
        else:
            number = number.replace(",", "")
    elif "," in number:
        # A comma before exactly three digits groups thousands ("1,234");
        # before any other count it is a decimal comma ("42,5", "42,50").
        whole, _, tail = number.rpartition(",")
        grouped = len(tail) == 3
        number = number.replace(",", "") if grouped else f"{whole.replace(',', '')}.{tail}"
    try:
        # Beyond Decimal's precision quantize raises too: not an amount anyone paid.
        return str(Decimal(number).quantize(Decimal("0.01")))
    except InvalidOperation:
        return None


def _named_date(text: str) -> tuple[int, int, int] | None:
    words = re.sub(r"[,.]", " ", text.casefold()).split()
    if len(words) != 3:
        return None
    words = [re.sub(r"(?<=\d)(st|nd|rd|th)$", "", word) for word in words]
    if words[0] in _MONTHS:
        month_word, day_word, year_word = words
    elif words[1] in _MONTHS:
        day_word, month_word, year_word = words
    else:
        return None
    if not (day_word.isdigit() and len(year_word) == 4 and year_word.isdigit()):
        return None
    return int(year_word), _MONTHS[month_word], int(day_word)


NORMALIZERS: Mapping[PointType, Callable[[str], str | None]] = {
    PointType.TEXT: normalize_text,
    PointType.REFERENCE: normalize_reference,
    PointType.CARD_LAST4: normalize_card_last4,
    PointType.POSTAL_CODE: normalize_postal_code,
    PointType.PHONE: normalize_phone,
    PointType.DATE: normalize_date,
    PointType.DATE_DAY_FIRST: lambda value: normalize_date(value, day_first=True),
    PointType.AMOUNT: normalize_amount,
}


def normalize(kind: PointType, value: RecordValue) -> str | None:
    """The normal form of one value, or ``None`` when it cannot count as a match."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        value = value.isoformat()
    return NORMALIZERS[kind](str(value))


# --- Matching and the verdict ---------------------------------------------------


def match_points(
    supplied: Mapping[str, str],
    records: Mapping[str, RecordValue | Sequence[RecordValue] | None],
    *,
    points: Mapping[str, PointType] = STANDARD_POINTS,
    exclude: Collection[str] = (),
) -> list[str]:
    """The names of the supplied data points that match the store's records, sorted.

    Only points named in ``points`` count: those are the ones the store has
    judged reliable. A record may hold several values for a point (every
    shipping ZIP, every phone); any one of them matches. Two points that match
    the same value of the same type count once, so a store that lists both
    ``phone`` and ``mobile`` does not turn one fact into two.
    """
    matched: list[str] = []
    seen: set[tuple[PointType, str]] = set()
    for name in sorted(supplied):
        kind = points.get(name)
        if kind is None or name in exclude:
            continue
        given = normalize(kind, supplied[name])
        if given is None:
            continue
        held = _values(records.get(name))
        if (kind, given) in seen:
            continue
        if any(_same(given, normalize(kind, value)) for value in held):
            seen.add((kind, given))
            matched.append(name)
    return matched


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to "is this requester verified?", for the record and for them."""

    verified: bool
    level: Certainty
    """The degree of certainty this request needed."""
    matched: list[str]
    """Names of the data points that matched: evidence for staff, never shown to the requester."""
    reason: str
    """Plain words for the requester (P18); the same whether or not a record was found."""
    downgrade_to: Kind | None = None
    """Set when the request cannot go ahead as asked but can as this kind (§7024(a))."""


def verify_points(
    kind: Kind,
    supplied: Mapping[str, str],
    records: Mapping[str, RecordValue | Sequence[RecordValue] | None],
    *,
    points: Mapping[str, PointType] = STANDARD_POINTS,
    declaration_signed: bool = False,
    sensitive: bool = False,
    contested: Collection[str] = (),
) -> Verdict:
    """Decide whether the details a requester gave verify them for this kind of request.

    ``records`` holds the candidate person's values, or is empty when no one
    was found: the verdict is then the same as for a person whose details did
    not match. ``contested`` names the data points a correction disputes;
    they are never used to verify it, since the store's value is the one said
    to be wrong (§7060(h)). ``sensitive`` is explained at :func:`requirement`.
    """
    if contested and kind is not Kind.CORRECT:
        raise ValueError("only a request to correct contests data")
    need = requirement(kind, sensitive=sensitive)
    if need.level is Certainty.NOT_REQUIRED:
        return Verdict(True, need.level, [], "An opt-out needs no proof of identity.")
    matched = match_points(supplied, records, points=points, exclude=contested)
    enough = len(matched) >= need.points
    declared = declaration_signed or not need.declaration
    if enough and declared:
        return Verdict(True, need.level, matched, _verified_reason(need, len(matched)))
    downgrade = None
    if kind in _SPECIFIC and len(matched) >= REASONABLE_POINTS:
        downgrade = Kind.KNOW_CATEGORIES
    skipped = bool(set(contested) & supplied.keys())
    reason = _refused_reason(need, enough=enough, declared=declared, downgrade=downgrade)
    if skipped:
        reason += (
            " Details you asked us to correct cannot be used to prove who you are,"
            " so we did not count them."
        )
    return Verdict(False, need.level, matched, reason, downgrade)


def verdict_rank(verdict: Verdict) -> int:
    """An order on verdicts: refused, answered as categories instead, verified."""
    if verdict.verified:
        return 2
    return 1 if verdict.downgrade_to is not None else 0


def _verified_reason(need: Requirement, count: int) -> str:
    details = f"{count} of the details you gave match what we hold"
    if need.declaration:
        details += ", and you signed the declaration"
    return f"We verified your identity: {details}."


def _refused_reason(
    need: Requirement, *, enough: bool, declared: bool, downgrade: Kind | None
) -> str:
    # The words depend only on what was needed and whether it was met, never
    # on how many details matched: "1 of 2 matched" would tell a stranger that
    # a record exists.
    causes: list[str] = []
    if not enough:
        causes.append(
            "the details you gave do not match enough of the information we hold"
            f" (this request needs {need.points} that match)"
        )
    if not declared:
        causes.append(
            "a request for specific pieces of information also needs your signed"
            " declaration, under penalty of perjury, that you are the person it is about"
        )
    reason = "We could not verify your identity because " + ", and ".join(causes) + "."
    if downgrade is Kind.KNOW_CATEGORIES:
        reason += (
            " We will instead answer your request as a request for the categories of"
            " information we hold about you, which needs less proof."
        )
    return reason


def _values(held: RecordValue | Sequence[RecordValue] | None) -> Sequence[RecordValue]:
    if held is None:
        return ()
    if isinstance(held, str | int | Decimal | dt.date):
        return (held,)
    return held


def _same(given: str, held: str | None) -> bool:
    # Constant-time, like every other comparison against a stored secret here:
    # a card's last four digits are a secret of sorts.
    return held is not None and hmac.compare_digest(given.encode(), held.encode())


# --- Authorized agents (§7063) --------------------------------------------------


class ConsumerStep(enum.StrEnum):
    """What the declaration asks of the consumer when an agent files for them (§7063(a))."""

    NONE = "none"
    VERIFY = "verify"
    """The consumer verifies their own identity directly with the store."""
    CONFIRM = "confirm"
    """The consumer confirms directly that they gave the agent permission."""
    VERIFY_OR_CONFIRM = "verify_or_confirm"
    """Either one, at the consumer's choice."""


@dataclass(frozen=True, slots=True)
class AgentPolicy:
    """What the store's declaration requires of agent requests."""

    signed_permission: bool = True
    """Ask for the consumer's signed permission (§7063(a); §7026 for opt-outs)."""
    consumer_step: ConsumerStep = ConsumerStep.NONE


@dataclass(frozen=True, slots=True)
class AgentEvidence:
    """What an agent request has shown so far; each flag set by staff or a proof step."""

    agent_identified: bool = False
    signed_permission: bool = False
    power_of_attorney: bool = False
    consumer_verified: bool = False
    consumer_confirmed: bool = False


@dataclass(frozen=True, slots=True)
class AgentCheck:
    ready: bool
    missing: list[str]
    """Each missing item in plain words, addressed to the agent."""

    @property
    def reason(self) -> str:
        if self.ready:
            return "We have everything we need to act on this request for the consumer."
        return "Before we can act on this request we still need: " + "; ".join(self.missing) + "."


AGENT_IDENTITY = (
    "proof of your own identity as the agent (your name, or your business's"
    " registered name, and contact details you confirm)"
)
SIGNED_PERMISSION = (
    "the consumer's permission for you to act for them, signed by the consumer"
    " (a power of attorney also works, but you never need one)"
)
_CONSUMER_STEPS = {
    ConsumerStep.VERIFY: "the consumer must verify their own identity with us directly",
    ConsumerStep.CONFIRM: "the consumer must confirm to us directly that they gave you permission",
    ConsumerStep.VERIFY_OR_CONFIRM: (
        "the consumer must either verify their own identity with us directly"
        " or confirm to us directly that they gave you permission"
    ),
}


def check_agent(
    kind: Kind, evidence: AgentEvidence, policy: AgentPolicy | None = None
) -> AgentCheck:
    """What an authorized agent's request still needs before it can go ahead.

    A power of attorney stands in for the signed permission and the consumer's
    own step (§7063(b)), but it is only ever offered, never asked for: the
    regulation forbids requiring one. An opt-out asks nothing of the consumer
    directly, because an opt-out needs no verification (§7026).
    """
    policy = policy or AgentPolicy()
    missing: list[str] = []
    if not evidence.agent_identified:
        missing.append(AGENT_IDENTITY)
    if not evidence.power_of_attorney:
        if policy.signed_permission and not evidence.signed_permission:
            missing.append(SIGNED_PERMISSION)
        if not kind.is_opt_out and not _consumer_step_done(policy.consumer_step, evidence):
            missing.append(_CONSUMER_STEPS[policy.consumer_step])
    return AgentCheck(not missing, missing)


def _consumer_step_done(step: ConsumerStep, evidence: AgentEvidence) -> bool:
    if step is ConsumerStep.VERIFY:
        return evidence.consumer_verified
    if step is ConsumerStep.CONFIRM:
        return evidence.consumer_confirmed
    if step is ConsumerStep.VERIFY_OR_CONFIRM:
        return evidence.consumer_verified or evidence.consumer_confirmed
    return True


# --- Signed tokens from the store's login (§7061) -------------------------------

DEFAULT_SKEW = dt.timedelta(minutes=2)
"""How far the store's clock may run ahead of or behind Covenant's."""
DEFAULT_MAX_AGE = dt.timedelta(minutes=15)
"""§7061(a) asks a consumer to re-authenticate before data is disclosed, deleted
or corrected, so a token must come from a recent sign-in, whatever its expiry."""
DEFAULT_TOKEN_TTL = dt.timedelta(minutes=5)
MAX_TOKEN_CHARS = 2048
MIN_TOKEN_KEY_BYTES = 32

_TOKEN_DOMAIN = b"covenant.account-token.v1."
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class TokenProblem(enum.StrEnum):
    MALFORMED = "malformed"
    TAMPERED = "tampered"
    """The signature does not match: altered, or made with another key."""
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    STALE = "stale"
    """Signed too long ago to count as a fresh sign-in, even if not expired."""


class TokenRefused(CovenantError):
    """Your sign-in could not be confirmed. Please sign in to your account again."""

    status = 401

    def __init__(self, problem: TokenProblem) -> None:
        # The requester gets the class's one message whatever went wrong; the
        # problem is for the log and the audit trail.
        super().__init__()
        self.problem = problem


@dataclass(frozen=True, slots=True)
class AccountToken:
    subject: str
    """The store's own id for the signed-in account holder."""
    issued_at: dt.datetime
    expires_at: dt.datetime


def mint_token(
    subject: str,
    *,
    key: bytes,
    issued_at: dt.datetime,
    ttl: dt.timedelta = DEFAULT_TOKEN_TTL,
) -> str:
    """A token as the store's login makes it: ``payload.signature``, both URL-safe base64.

    The payload is compact JSON ``{"exp": <unix s>, "iat": <unix s>, "sub": <id>}``;
    the signature is HMAC-SHA-256 under the shared key over a fixed prefix and
    the payload's base64 text.
    """
    _token_key(key)
    if not subject:
        raise ValueError("a token needs a subject")
    iat = int(_utc(issued_at).timestamp())
    payload = {"sub": subject, "iat": iat, "exp": iat + int(ttl.total_seconds())}
    body = _b64encode(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_b64encode(_token_signature(key, body))}"


def read_token(
    token: str,
    *,
    key: bytes,
    now: dt.datetime,
    skew: dt.timedelta = DEFAULT_SKEW,
    max_age: dt.timedelta = DEFAULT_MAX_AGE,
) -> AccountToken:
    """The account holder a token names; raise :class:`TokenRefused` when it is not good.

    The signature is checked before the payload is parsed, so nothing an
    attacker wrote is interpreted unless the key holder signed it.
    """
    _token_key(key)
    now = _utc(now)
    if len(token) > MAX_TOKEN_CHARS or not _TOKEN_SHAPE.fullmatch(token):
        raise TokenRefused(TokenProblem.MALFORMED)
    body, signature_text = token.split(".")
    signature = _b64decode(signature_text)
    if signature is None or not hmac.compare_digest(signature, _token_signature(key, body)):
        raise TokenRefused(TokenProblem.TAMPERED)
    claims = _claims(_b64decode(body))
    if claims is None:
        raise TokenRefused(TokenProblem.MALFORMED)
    subject, iat, exp = claims
    issued_at = dt.datetime.fromtimestamp(iat, dt.UTC)
    expires_at = dt.datetime.fromtimestamp(exp, dt.UTC)
    if issued_at > now + skew:
        raise TokenRefused(TokenProblem.NOT_YET_VALID)
    if now >= expires_at + skew:
        raise TokenRefused(TokenProblem.EXPIRED)
    if now - issued_at > max_age + skew:
        raise TokenRefused(TokenProblem.STALE)
    return AccountToken(subject, issued_at, expires_at)


def _claims(raw: bytes | None) -> tuple[str, int, int] | None:
    if raw is None:
        return None
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    subject, iat, exp = payload.get("sub"), payload.get("iat"), payload.get("exp")
    if not (isinstance(subject, str) and subject):
        return None
    if not (_is_seconds(iat) and _is_seconds(exp)) or exp <= iat:
        return None
    return subject, iat, exp


def _is_seconds(value: object) -> TypeGuard[int]:
    # bool is an int in Python, and a signed ``true`` is still not a time; the
    # upper bound is the last second a datetime can hold (9999-12-31).
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 253402300800


def _token_signature(key: bytes, body: str) -> bytes:
    return hmac.new(key, _TOKEN_DOMAIN + body.encode("ascii"), hashlib.sha256).digest()


def _token_key(key: bytes) -> None:
    if len(key) < MIN_TOKEN_KEY_BYTES:
        raise ValueError(f"the token key must be at least {MIN_TOKEN_KEY_BYTES} bytes")


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    # Only the one canonical spelling of each byte string is accepted: base64
    # has spare bits in its last character, and a token that decodes the same
    # after an edit would look untampered.
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None
    return raw if _b64encode(raw) == text else None


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("verification times must be timezone-aware")
    return moment.astimezone(dt.UTC)
