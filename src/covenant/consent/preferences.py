"""The preference center's rules: what a verified person may choose, and the tokens that carry it.

Owns, without any I/O:

- the *switches* the page shows, all derived from the declaration: one per purpose whose
  fideslang data use is ``marketing.communications`` or beneath it (each such purpose is a
  channel: a store that markets by e-mail, post, phone and SMS separately declares one purpose
  per channel); one opt-out of sale and sharing over every topic the consent policy calls sale
  or sharing; one per cookie category the banner shows;
- where each switch stands, decided from the person's consent history by the same rules the
  consent API answers with (:func:`covenant.consent.decisions.decide`), and the choices a form
  or a one-click withdrawal turns into: only what changed, a grant taken back recorded as
  ``withdrawn`` (GDPR Art. 7(3)), anything else turned off as ``denied``;
- the signed, expiring session token of a person who proved their address, the unsubscribe
  token of RFC 8058 (hard to forge, naming the recipient and the list: §3.1), and the
  ``List-Unsubscribe`` header fields;
- the banner's device cookie, read and rewritten so this browser follows the cookie choices
  made here.

It never reads the clock, a key or a database: moments and keys are parameters. It never
holds an e-mail address: people are the desk's opaque ``subject_ref``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from covenant.consent.banner import StatementRef, categories
from covenant.consent.decisions import Decision, Nature, Policy, decide
from covenant.consent.records import CONSENT_ID, Choice, ConsentError, ConsentRecord, Topic
from covenant.consent.signals import NO_SIGNALS, Signals
from covenant.declaration.model import Declaration

SESSION_TTL = dt.timedelta(minutes=30)
"""How long a verified person may change their choices before proving their address again."""
SKEW = 60
"""Seconds of clock difference tolerated between the servers that make and check a token."""

SALE_FIELD = "sale"
"""The form field of the opt-out of sale and sharing: checked means *do not* sell or share."""
WITHDRAW_ALL = "all"

ONE_CLICK = ("List-Unsubscribe", "One-Click")
"""The only key/value pair of a one-click POST body (RFC 8058 §3.1, §3.2)."""

Group = Literal["marketing", "sale", "cookies"]

_SESSION_DOMAIN = b"covenant.preferences.session.v1\x00"
_UNSUBSCRIBE_DOMAIN = b"covenant.unsubscribe.v1\x00"
# The domain prefixes keep these MACs apart from any other made with the same key.
_REF = r"[A-Za-z0-9_-]{1,64}"
_MAC = r"[A-Za-z0-9_-]{43}"
_SESSION = re.compile(rf"({_REF})\.(\d{{1,12}})\.({_MAC})")
_UNSUBSCRIBE = re.compile(rf"({_REF})\.([a-z][a-z0-9_]{{0,63}})\.(\d{{8}})\.({_MAC})")
_TOKEN_MAX = 256
_URL = re.compile(r"^https?://[^\s<>\"\x00-\x1f\x7f]+$", re.IGNORECASE)
_URL_MAX = 2000
_COOKIE_MAX = 4096
_LOCKED = {"gpc", "dnt", "known_minor", "strictly_necessary"}


class PreferenceError(ConsentError):
    """This form is out of date or was changed. Reload the page and try again."""

    status = 400


class BadLink(PreferenceError):
    """This link is not valid. Use the newest link we sent you."""

    status = 404


# --- What the page offers -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Switch:
    """One thing the person can turn on or off, and the topics it records."""

    field: str
    """The form field: ``purpose:<key>``, ``category:<key>``, or :data:`SALE_FIELD`."""
    group: Group
    label: str
    description: str
    topics: tuple[Topic, ...]


@dataclass(frozen=True, slots=True)
class Offer:
    """Everything the preference page offers, from the declaration."""

    marketing: tuple[Switch, ...]
    sale: Switch | None
    """None when nothing is sold or shared: the page then says so plainly."""
    cookies: tuple[Switch, ...]
    always_on: tuple[str, ...]
    """Labels of the cookie categories that need no consent (ePrivacy Art. 5(3))."""
    minimum_age: int

    @property
    def switches(self) -> tuple[Switch, ...]:
        return (*self.marketing, *((self.sale,) if self.sale else ()), *self.cookies)


def offer(declaration: Declaration, policy: Policy) -> Offer:
    """The switches for ``declaration``, in its own order; nothing about a store is built in."""
    marketing = tuple(
        Switch(f"purpose:{p.key}", "marketing", p.name, p.description, (Topic("purpose", p.key),))
        for p in declaration.purposes
        if policy.nature(Topic("purpose", p.key)) is Nature.COMMUNICATIONS
    )
    shown = categories(declaration, policy)
    cookies = tuple(
        Switch(f"category:{c.key}", "cookies", c.label, c.description, (Topic("category", c.key),))
        for c in shown
        if not c.required
    )
    # The sale switch covers the sale/sharing purposes and the advertising trackers the
    # banner shows: an opt-out that left the ad pixels sharing would not be one.
    sale_topics = [
        Topic("purpose", p.key)
        for p in declaration.purposes
        if policy.nature(Topic("purpose", p.key)) is Nature.SALE_OR_SHARING
    ]
    sale_topics += [
        t for s in cookies for t in s.topics if policy.nature(t) is Nature.SALE_OR_SHARING
    ]
    sale = (
        Switch(
            SALE_FIELD,
            "sale",
            "Do not sell or share my personal information",
            _sale_description(declaration, sale_topics),
            tuple(sale_topics),
        )
        if sale_topics
        else None
    )
    return Offer(
        marketing=marketing,
        sale=sale,
        cookies=cookies,
        always_on=tuple(c.label for c in shown if c.required),
        minimum_age=policy.minimum_age,
    )


def _sale_description(declaration: Declaration, topics: Sequence[Topic]) -> str:
    names = {p.key: p.name for p in declaration.purposes}
    uses = [names[t.key] for t in topics if t.kind == "purpose"]
    text = (
        "Stops us selling or sharing your personal information, including for advertising "
        "on other sites (California Consumer Privacy Act)."
    )
    return f"{text} It covers: {'; '.join(uses)}." if uses else text


# --- Where each switch stands ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """A switch and where it stands for this person now."""

    switch: Switch
    decisions: tuple[Decision, ...]
    """One per topic of the switch, in the same order."""

    @property
    def on(self) -> bool:
        """Whether any of the switch's uses is allowed (for the sale switch: not opted out)."""
        return any(d.allowed for d in self.decisions)

    @property
    def locked(self) -> str | None:
        """Why the switch cannot change here (``gpc``, ``dnt``, ``known_minor``), or None."""
        return next((d.basis for d in self.decisions if d.basis in _LOCKED), None)

    @property
    def checked(self) -> bool:
        """The checkbox: the sale switch is worded as an opt-out, so it is checked when off."""
        return not self.on if self.switch.group == "sale" else self.on

    @property
    def granted(self) -> bool:
        """Whether an explicit grant is on record: turning it off is then a withdrawal."""
        return any(d.basis == "granted" for d in self.decisions)


def settings(
    offered: Offer,
    history: Iterable[ConsentRecord],
    *,
    policy: Policy,
    jurisdiction: str,
    signals: Signals = NO_SIGNALS,
) -> tuple[Setting, ...]:
    """Every offered switch with its decisions, from one read of the person's history."""
    records = list(history)
    return tuple(
        Setting(
            switch,
            tuple(
                decide(records, t, policy=policy, jurisdiction=jurisdiction, signals=signals)
                for t in switch.topics
            ),
        )
        for switch in offered.switches
    )


def lock_words(setting: Setting, minimum_age: int) -> str | None:
    """Why a locked switch is shown but cannot be changed, in plain words."""
    match setting.locked:
        case "gpc":
            return "Off, as your browser's Global Privacy Control signal asks."
        case "dnt":
            return "Off, as your browser's Do Not Track signal asks."
        case "known_minor":
            return f"Off: we do not market to, or sell the data of, people under {minimum_age}."
        case _:
            return None


# --- Turning a form into choices ------------------------------------------------------------


def wanted(current: Sequence[Setting], form: Mapping[str, Sequence[str]]) -> dict[str, bool]:
    """What the submitted form asks: each unlocked switch's field mapped to "allowed?".

    A checkbox that is not ticked is not sent at all, so a switch missing from the form is
    off. A ``withdraw`` button names one switch, or :data:`WITHDRAW_ALL`, and wins over the
    checkboxes: withdrawing takes one click. Any field the page did not offer, or a value a
    checkbox cannot send, refuses the whole form.
    """
    fields = {s.switch.field for s in current}
    unknown = set(form) - fields - {"csrf_token", "withdraw"}
    if unknown:
        raise PreferenceError()
    for name in fields & set(form):
        if list(form[name]) != ["on"]:
            raise PreferenceError()
    open_ = [s for s in current if s.locked is None]
    withdraw = list(form.get("withdraw", []))
    if len(withdraw) > 1:
        raise PreferenceError()
    if withdraw:
        target = withdraw[0]
        if target == WITHDRAW_ALL:
            return {s.switch.field: False for s in open_ if s.on}
        if target not in {s.switch.field for s in open_}:
            raise PreferenceError()
        return {target: False}
    asked: dict[str, bool] = {}
    for s in open_:
        checked = s.switch.field in form
        asked[s.switch.field] = not checked if s.switch.group == "sale" else checked
    return asked


def changes(current: Sequence[Setting], asked: Mapping[str, bool]) -> list[tuple[Topic, Choice]]:
    """The choices to record: only for switches whose state the person changed.

    Each topic of a changed switch is brought to the asked state; a topic already there is
    left alone, so nothing is recorded twice. Locked switches never change here.
    """
    out: list[tuple[Topic, Choice]] = []
    for setting in current:
        want = asked.get(setting.switch.field)
        if want is None or want == setting.on or setting.locked is not None:
            continue
        for topic, decision in zip(setting.switch.topics, setting.decisions, strict=True):
            if decision.allowed == want:
                continue
            out.append((topic, turned(want=want, decision=decision)))
    return out


def turned(*, want: bool, decision: Decision) -> Choice:
    """The choice that turns a use on or off: off after a grant is a withdrawal (Art. 7(3))."""
    if want:
        return Choice.GRANTED
    return Choice.WITHDRAWN if decision.basis == "granted" else Choice.DENIED


def unsubscribe_choice(last: Choice | None) -> Choice | None:
    """What a one-click unsubscribe records after the ``last`` choice on record, if anything.

    A grant is withdrawn; no choice at all becomes an explicit refusal (the store may have
    mailed on another basis, and the refusal must now stand); a refusal or withdrawal already
    on record needs nothing new, so a replayed POST writes nothing (RFC 8058 §6: anyone with
    the message can trigger it, so repeats are normal).
    """
    if last is Choice.GRANTED:
        return Choice.WITHDRAWN
    if last is None:
        return Choice.DENIED
    return None


def cookie_choices(current: Sequence[Setting]) -> dict[str, bool]:
    """The banner categories' states, for the device cookie: ``{"analytics": False, ...}``."""
    return {
        s.switch.topics[0].key: s.on
        for s in current
        if s.switch.group == "cookies" and s.switch.topics
    }


# --- The session of a verified person --------------------------------------------------------


def session_token(
    subject_ref: str, *, key: bytes, now: dt.datetime, ttl: dt.timedelta = SESSION_TTL
) -> str:
    """``<subject_ref>.<expires>.<mac>``: HMAC-SHA-256 over both, so neither can be changed."""
    if not re.fullmatch(_REF, subject_ref):
        raise ValueError("a subject reference is 1 to 64 URL-safe characters")
    expires = int(_aware(now).timestamp() + ttl.total_seconds())
    body = f"{subject_ref}.{expires}"
    return f"{body}.{_mac(key, _SESSION_DOMAIN, body)}"


def session_subject(
    token: str | None, *, key: bytes, now: dt.datetime, ttl: dt.timedelta = SESSION_TTL
) -> str | None:
    """The ``subject_ref`` a valid, unexpired session token names; None for anything else."""
    if not token or len(token) > _TOKEN_MAX:
        return None
    match = _SESSION.fullmatch(token)
    if match is None:
        return None
    ref, expires, mac = match.group(1), int(match.group(2)), match.group(3)
    expected = _mac(key, _SESSION_DOMAIN, f"{ref}.{expires}")
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        return None
    left = expires - _aware(now).timestamp()
    # A token never lives longer than it was made to, whatever its expiry says.
    if not 0 < left <= ttl.total_seconds() + SKEW:
        return None
    return ref


# --- RFC 8058 one-click unsubscribe ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """What an unsubscribe link names: the person, the purpose (the list) and when it was made."""

    subject_ref: str
    purpose: str
    issued: dt.date


def unsubscribe_token(subject_ref: str, purpose: str, *, key: bytes, issued: dt.date) -> str:
    """``<subject_ref>.<purpose>.<yyyymmdd>.<mac>``.

    RFC 8058 §3.1: the URI must identify the recipient and the list by itself, since the
    POST carries no cookies or other context, and should hold a hard-to-forge component
    (HMAC-SHA-256 under a server key). The issue date is evidence of which mailing it came
    from, not an expiry: an unsubscribe link must work whenever the person finds the message.
    """
    body = f"{subject_ref}.{purpose}.{issued:%Y%m%d}"
    if not _UNSUBSCRIBE.fullmatch(f"{body}.{'A' * 43}"):
        raise ValueError("a subject reference is URL-safe and a purpose is a key")
    return f"{body}.{_mac(key, _UNSUBSCRIBE_DOMAIN, body)}"


def read_unsubscribe(token: str, *, key: bytes, today: dt.date) -> Unsubscribe:
    """The link's contents, or :class:`BadLink` for anything forged, altered or malformed."""
    match = _UNSUBSCRIBE.fullmatch(token) if len(token) <= _TOKEN_MAX else None
    if match is None:
        raise BadLink()
    ref, purpose, day, mac = match.groups()
    expected = _mac(key, _UNSUBSCRIBE_DOMAIN, f"{ref}.{purpose}.{day}")
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        raise BadLink()
    try:
        issued = dt.datetime.strptime(day, "%Y%m%d").date()
    except ValueError:
        raise BadLink() from None
    if issued > today + dt.timedelta(days=1):
        raise BadLink()
    return Unsubscribe(ref, purpose, issued)


def unsubscribe_headers(token_url: str, *, allow_http: bool = False) -> dict[str, str]:
    """The header fields that offer one-click unsubscribe in a marketing message.

    RFC 8058 §3.1: ``List-Unsubscribe`` holds one HTTPS URI (in angle brackets, RFC 2369
    §2), and ``List-Unsubscribe-Post`` the single pair ``List-Unsubscribe=One-Click``. Both
    must be covered by the message's DKIM signature, which is the sending system's job.
    ``allow_http`` is for local development only: mail receivers ignore plain HTTP here.
    """
    if len(token_url) > _URL_MAX or not _URL.match(token_url):
        raise PreferenceError("an unsubscribe link must be one http(s) URL")
    if not allow_http and not token_url.lower().startswith("https://"):
        raise PreferenceError("RFC 8058 needs an https:// unsubscribe link")
    return {
        "List-Unsubscribe": f"<{token_url}>",
        "List-Unsubscribe-Post": "=".join(ONE_CLICK),
    }


# --- The banner's device cookie ----------------------------------------------------------------


def device_state(raw: str | None) -> dict[str, object] | None:
    """The banner cookie's state if it is well formed, keeping only the fields the banner keeps.

    The banner writes ``encodeURIComponent(JSON.stringify(state))`` (``static/consent.js``);
    a cookie is input like any other, so anything unexpected makes it count as absent.
    """
    if not raw or len(raw) > _COOKIE_MAX:
        return None
    try:
        value = json.loads(urllib.parse.unquote(raw, errors="strict"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        return None
    if not CONSENT_ID.fullmatch(value["id"]):
        return None
    signals = value.get("signals")
    kept: dict[str, object] = {
        "id": value["id"],
        "signals": [s for s in signals if s in ("gpc", "dnt")] if isinstance(signals, list) else [],
    }
    choices = value.get("choices")
    if isinstance(choices, dict):
        kept["choices"] = {k: v for k, v in choices.items() if isinstance(v, bool)}
    for name in ("version", "basis", "seen"):
        if isinstance(value.get(name), str):
            kept[name] = value[name]
    return kept


def device_cookie(
    state: Mapping[str, object], choices: Mapping[str, bool], statement: StatementRef
) -> str:
    """The banner cookie after choices made here: the banner then shows and applies them.

    ``version`` and ``basis`` are what the banner writes when someone decides in it, so it
    treats these choices as made under the current statement and does not ask again.
    """
    updated = {
        **state,
        "choices": {**_bools(state.get("choices")), **choices},
        "version": statement.version,
        "basis": statement.material_version,
    }
    text = json.dumps(updated, separators=(",", ":"), ensure_ascii=True)
    return urllib.parse.quote(text, safe="")


def _bools(value: object) -> dict[str, bool]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, bool)}


def _mac(key: bytes, domain: bytes, body: str) -> str:
    if len(key) < 32:
        raise ValueError("the key must be at least 32 bytes")
    raw = hmac.new(key, domain + body.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment
