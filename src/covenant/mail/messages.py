"""The messages a requester receives, in plain language. Pure: no clock, no I/O.

One function per message: :func:`receipt`, :func:`verification`,
:func:`extension`, :func:`denial` and :func:`completion`. Each returns a
:class:`Message` with a plain-text body (always) and an HTML body, rendered
from the Jinja2 templates in ``covenant/mail/templates`` (HTML autoescaped).
Texts use short sentences and put one idea per paragraph, for people who read
mail on a phone.

What a message must never do:

* Tell whether the address belongs to a customer. :func:`receipt` and
  :func:`verification` take no argument that could make their text differ for
  a known and an unknown person; the caller sends them to everyone alike.
* Carry a line break into a header. :class:`Message` refuses any address or
  subject with CR, LF or another control character (:class:`UnsafeHeader`), the
  classic header injection (RFC 5322 §2.2: a header field is one line unless
  folded).
* Name the organization from code. It comes in as a :class:`Letterhead` built
  from the declaration's ``organization`` and its contacts.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

import jinja2

from covenant.declaration.model import Organization
from covenant.errors import CovenantError
from covenant.requests.lifecycle import Kind


class MailError(CovenantError):
    """The message could not be made or sent."""


class UnsafeHeader(MailError):
    """A mail address or subject holds a line break or another control character."""

    exit_code = 2
    status = 400


class BadAddress(MailError):
    """That is not an e-mail address a message can be sent to."""

    exit_code = 2
    status = 400


class MessageInvalid(MailError):
    """The message cannot be made from what was given."""

    exit_code = 2
    status = 400


ADDRESS_MAX = 254
"""RFC 5321 §4.5.3.1.3: a path is at most 256 octets, including the angle brackets."""
SUBJECT_MAX = 200
BODY_MAX = 100_000
"""Characters. Every message here is a few hundred; more is a bug or an attack."""
REASON_MAX = 600
LINK_MAX = 2000

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
# Unicode is fine on both sides of the "@" (RFC 6531, SMTPUTF8); what is refused
# is anything that would end the address inside a header or an SMTP command.
_ADDRESS = re.compile(r"^[^\s@<>()\[\],;:\"\\]{1,64}@[\w-]+(\.[\w-]+)*$")
_CODE = re.compile(r"^\d{8}$")
_LINK = re.compile(r"^https?://[^\s<>\"]+$", re.IGNORECASE)
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

KIND_WORDS: dict[Kind, str] = {
    Kind.KNOW_CATEGORIES: "to know what kinds of personal information we collect about you",
    Kind.KNOW_SPECIFIC: "to know the personal information we hold about you",
    Kind.ACCESS: "for a copy of your personal information",
    Kind.DELETE: "to delete your personal information",
    Kind.CORRECT: "to correct your personal information",
    Kind.OPT_OUT_SALE: "to stop the sale or sharing of your personal information",
    Kind.OPT_OUT_MARKETING: "to stop marketing messages to you",
}
"""What each kind of request asks, completing "your request ..."."""

DONE_WORDS: dict[Kind, str] = {
    Kind.KNOW_CATEGORIES: "Your answer is ready. It lists the kinds of personal information "
    "we collect about you, where it comes from, why we use it and who we share it with.",
    Kind.KNOW_SPECIFIC: "Your copy of your personal information is ready.",
    Kind.ACCESS: "Your copy of your personal information is ready.",
    Kind.DELETE: "We deleted your personal information.",
    Kind.CORRECT: "We corrected your personal information.",
    Kind.OPT_OUT_SALE: "We no longer sell or share your personal information.",
    Kind.OPT_OUT_MARKETING: "We no longer send you marketing messages.",
}
"""What was done, said once the request is complete."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message, ready to queue. ``text`` is always there; ``html`` is optional.

    ``template`` names the message kind (``"verification"``) for the outbox page
    and the staff console; it is never sent.
    """

    to: str
    subject: str
    text: str
    html: str | None = None
    template: str = "message"

    def __post_init__(self) -> None:
        address(self.to)
        _header("subject", self.subject, SUBJECT_MAX)
        if not self.text.strip():
            raise MessageInvalid("a message needs a plain-text body")
        for part in (self.text, self.html or ""):
            if len(part) > BODY_MAX:
                raise MessageInvalid(f"a message body is at most {BODY_MAX} characters")
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", self.template):
            raise MessageInvalid("a template name is a short lower-case key")


@dataclass(frozen=True, slots=True)
class Letterhead:
    """Who writes, and how to reach them: from the declaration, never from code."""

    name: str
    email: str
    phone: str | None = None
    web_form: str | None = None

    def __post_init__(self) -> None:
        # The name goes into subjects: the same rule as any header.
        _header("organization name", self.name, 120)
        address(self.email)
        if self.phone is not None:
            _header("phone", self.phone, 40)
        if self.web_form is not None:
            _link(self.web_form)

    @classmethod
    def of(cls, organization: Organization) -> Letterhead:
        """The letterhead of the declaration's ``organization`` and its ``contacts``."""
        contacts = organization.contacts
        return cls(
            name=organization.name,
            email=contacts.privacy_email,
            phone=contacts.privacy_phone,
            web_form=contacts.web_form,
        )


def receipt(
    to: str,
    *,
    kind: Kind,
    received: dt.date,
    respond_by: dt.date,
    letterhead: Letterhead,
    reference: str | None = None,
    status: str | None = None,
) -> Message:
    """We received your request; what happens next; when we will answer.

    CCPA regs §7021(a): confirm receipt and describe how the request will be
    verified and processed. The text depends only on what the requester told
    us, never on whether we hold anything about them.
    """
    if respond_by < received:
        raise MessageInvalid("the answer cannot be due before the request was received")
    return _render(
        "receipt",
        to,
        f"{letterhead.name} received your privacy request",
        letterhead,
        asks=KIND_WORDS[kind],
        needs_check=kind.needs_verification,
        received=_date(received),
        respond_by=_date(respond_by),
        reference=_reference(reference),
        status=_link(status) if status is not None else None,
    )


def verification(
    to: str,
    *,
    letterhead: Letterhead,
    expires_in: dt.timedelta,
    code: str | None = None,
    link: str | None = None,
) -> Message:
    """The one-time code and/or link that shows the requester reads this mailbox.

    The code (8 digits) and link are made by the caller
    (:mod:`covenant.requests.codes`); this only says them. The subject never
    holds the code, so a locked phone's preview does not show it.
    """
    if code is None and link is None:
        raise MessageInvalid("a verification message needs a code, a link, or both")
    if code is not None and not _CODE.match(code):
        raise MessageInvalid("a verification code is 8 digits")
    return _render(
        "verification",
        to,
        f"Confirm your request to {letterhead.name}",
        letterhead,
        code=code,
        link=_link(link) if link is not None else None,
        expires=_duration(expires_in),
    )


def extension(
    to: str,
    *,
    kind: Kind,
    respond_by: dt.date,
    reason: str,
    letterhead: Letterhead,
    reference: str | None = None,
    status: str | None = None,
) -> Message:
    """We need more time: the new date and why.

    CCPA regs §7021(b): up to 45 more days, with notice and the reason given
    within the first 45; GDPR Art. 12(3): two more months, told within the first.
    """
    return _render(
        "extension",
        to,
        "We need more time for your request",
        letterhead,
        asks=KIND_WORDS[kind],
        respond_by=_date(respond_by),
        reason=_sentence(reason),
        reference=_reference(reference),
        status=_link(status) if status is not None else None,
    )


def denial(
    to: str,
    *,
    kind: Kind,
    reason: str,
    letterhead: Letterhead,
    appeal: str | None = None,
    reference: str | None = None,
    status: str | None = None,
) -> Message:
    """We could not do what was asked: the basis in plain words, and how to appeal.

    GDPR Art. 12(4): say why, and that the person may complain to a supervisory
    authority; the CCPA regulations ask for the basis of a denial (§7022(f) for
    deletion). ``reason`` is the caller's plain-language basis; ``appeal`` how to
    ask for a second look (a sentence or a link), else the privacy contact.
    """
    return _render(
        "denial",
        to,
        "We could not complete your request",
        letterhead,
        asks=KIND_WORDS[kind],
        reason=_sentence(reason),
        appeal=_sentence(appeal) if appeal is not None else None,
        reference=_reference(reference),
        status=_link(status) if status is not None else None,
    )


def completion(
    to: str,
    *,
    kind: Kind,
    letterhead: Letterhead,
    download: str | None = None,
    download_expires_in: dt.timedelta | None = None,
    note: str | None = None,
    reference: str | None = None,
    status: str | None = None,
) -> Message:
    """Your request is done: what was done, and for a copy, where to download it.

    ``note`` adds one plain paragraph, such as what was kept and the law that
    requires it (CCPA §1798.105(d)). A download link must say when it expires.
    """
    if (download is None) != (download_expires_in is None):
        raise MessageInvalid("a download link and its expiry come together")
    return _render(
        "completion",
        to,
        "Your request is complete",
        letterhead,
        done=DONE_WORDS[kind],
        download=_link(download) if download is not None else None,
        expires=_duration(download_expires_in) if download_expires_in is not None else None,
        note=_sentence(note) if note is not None else None,
        reference=_reference(reference),
        status=_link(status) if status is not None else None,
    )



def agent_confirmation(
    to: str,
    *,
    kind: Kind,
    agent: str,
    link: str,
    letterhead: Letterhead,
    reference: str | None = None,
) -> Message:
    """To the consumer: did you ask this agent to act for you? (CCPA regs §7063(a)(2)).

    Sent where the declaration asks the consumer to confirm an agent's
    permission directly; nothing happens unless they follow the link.
    """
    return _render(
        "agent_confirmation",
        to,
        f"Did you ask someone to contact {letterhead.name} for you?",
        letterhead,
        asks=KIND_WORDS[kind],
        agent=_header("agent name", agent, 200),
        link=_link(link),
        reference=_reference(reference),
    )

def address(value: str) -> str:
    """``value`` if it is one plain e-mail address; refused otherwise."""
    if _CONTROL.search(value):
        raise UnsafeHeader()
    if len(value) > ADDRESS_MAX or not _ADDRESS.match(value):
        raise BadAddress()
    return value


def _header(what: str, value: str, limit: int) -> str:
    if _CONTROL.search(value):
        raise UnsafeHeader(f"the {what} holds a line break or another control character")
    if not value.strip() or len(value) > limit:
        raise MessageInvalid(f"the {what} must be 1 to {limit} characters")
    return value


def _link(value: str) -> str:
    if _CONTROL.search(value) or len(value) > LINK_MAX or not _LINK.match(value):
        raise MessageInvalid("a link must be one http(s) URL")
    return value


def _sentence(value: str) -> str:
    # Caller text becomes one paragraph: a line break in it could not forge
    # a second paragraph that looks like it comes from us.
    text = " ".join(value.split())
    if not text or len(text) > REASON_MAX:
        raise MessageInvalid(f"a reason or note is 1 to {REASON_MAX} characters")
    return text


def _reference(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", value):
        raise MessageInvalid("a request reference is letters, digits and dashes")
    return value


def _date(value: dt.date) -> str:
    """A date as people read it in the United States: ``January 15, 2026``."""
    return f"{_MONTHS[value.month - 1]} {value.day}, {value.year}"


def _duration(value: dt.timedelta) -> str:
    """``30 minutes``, ``2 hours``, ``7 days``: the largest whole unit."""
    minutes = int(value.total_seconds() // 60)
    if minutes < 1:
        raise MessageInvalid("an expiry is at least one minute")
    size, unit = next(
        u for u in ((1440, "day"), (60, "hour"), (1, "minute")) if minutes % u[0] == 0
    )
    count = minutes // size
    return f"{count} {unit}{'' if count == 1 else 's'}"


def _render(
    template: str, to: str, subject: str, letterhead: Letterhead, **context: object
) -> Message:
    env = _environment()
    values = {"subject": subject, "org": letterhead, "status": None, **context}
    text = env.get_template(f"{template}.txt").render(values)
    html = env.get_template(f"{template}.html").render(values)
    return Message(
        to=to,
        subject=subject,
        text=re.sub(r"\n{3,}", "\n\n", text).strip() + "\n",
        html=html,
        template=template,
    )


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("covenant.mail", "templates"),
        # Names and reasons come from the declaration and from staff: escaped in HTML.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), disabled_extensions=("txt",), default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
