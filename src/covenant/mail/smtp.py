"""Sending over SMTP with the standard library, and the :class:`Sender` the outbox calls.

:class:`SmtpSender` submits one message per connection to the server in the
settings (``COVENANT_SMTP_*``): implicit TLS (RFC 8314 §3.3, port 465),
STARTTLS (RFC 3207, port 587; refused, never downgraded, when the server does
not offer it) or, for a relay on the same host, none. It logs nothing, and
never the password, which stays a ``SecretStr`` until the moment of ``AUTH``.

Without ``COVENANT_SMTP_HOST`` there is no sender at all
(:meth:`SmtpSender.from_settings` returns None): nothing is sent, messages
stay queued in the outbox, and in the demo the outbox page shows them.

Failures become :class:`SendFailed` with a short reason Covenant wrote itself,
the SMTP reply code and a fixed phrase. The server's own text is dropped
because it often echoes the recipient's address. A 5xx reply about the
recipient or the message is permanent (RFC 5321 §4.2.1): retrying cannot help.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import smtplib
import ssl
from email.message import EmailMessage
from typing import Literal, Protocol

from pydantic import SecretStr

from covenant.mail.messages import MailError, Message, UnsafeHeader, address
from covenant.settings import Settings

Security = Literal["starttls", "tls", "none"]
DEFAULT_TIMEOUT = 30.0
"""Seconds for connecting and for each reply: a hung server must not hold a worker."""


class SendFailed(MailError):
    """The mail server did not take the message."""

    status = 502

    def __init__(self, message: str | None = None, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    """Whatever hands a message to the mail system; the outbox takes any of them."""

    def send(self, message: Message, *, message_id: str, date: dt.datetime) -> None:
        """Send ``message`` once, or raise :class:`SendFailed`."""


def compose(
    message: Message, *, mail_from: str, message_id: str, date: dt.datetime
) -> EmailMessage:
    """The RFC 5322 message: text, or multipart/alternative (RFC 2046 §5.1.4) with HTML."""
    mail = EmailMessage()
    mail["From"] = mail_from
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = email.utils.format_datetime(date.astimezone(dt.UTC))
    mail["Message-ID"] = message_id
    # RFC 3834 §5: machine-sent, so vacation responders do not answer it.
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.text)
    if message.html is not None:
        mail.add_alternative(message.html, subtype="html")
    return mail


class SmtpSender:
    """Submits messages to one SMTP server; a new connection for each message."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: Security,
        mail_from: str,
        username: str | None = None,
        password: SecretStr | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if security == "none" and username and not _loopback(host):
            raise MailError(
                "COVENANT_SMTP_SECURITY=none would send the SMTP password in the clear; "
                "use starttls or tls, or a relay on this host"
            )
        if username and password is None:
            raise MailError("COVENANT_SMTP_USERNAME is set but COVENANT_SMTP_PASSWORD is not")
        self.host = host
        self.port = port
        self.security = security
        self.mail_from = _sender(mail_from)
        self.envelope_from = email.utils.parseaddr(self.mail_from)[1]
        self.username = username
        self._password = password
        self.timeout = timeout
        self._tls = tls_context or ssl.create_default_context()

    def __repr__(self) -> str:
        return f"SmtpSender({self.host}:{self.port}, {self.security})"

    @classmethod
    def from_settings(
        cls, settings: Settings, *, tls_context: ssl.SSLContext | None = None
    ) -> SmtpSender | None:
        """The sender the settings describe; None without ``smtp_host`` (nothing is sent)."""
        if not settings.smtp_host:
            return None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            mail_from=settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            tls_context=tls_context,
        )

    def send(self, message: Message, *, message_id: str, date: dt.datetime) -> None:
        mail = compose(message, mail_from=self.mail_from, message_id=message_id, date=date)
        try:
            with self._connect() as smtp:
                self._secure_and_login(smtp)
                smtp.send_message(mail, from_addr=self.envelope_from, to_addrs=[message.to])
        except smtplib.SMTPRecipientsRefused as exc:
            (code, _text) = next(iter(exc.recipients.values()))
            raise _failed("the server refused the recipient", code) from None
        except smtplib.SMTPNotSupportedError:
            raise SendFailed(
                "the server lacks an extension this message needs (STARTTLS or SMTPUTF8)"
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            # Not the message's fault: fix the credentials and it will go.
            raise SendFailed(f"the server refused the login ({exc.smtp_code})") from None
        except smtplib.SMTPResponseException as exc:
            raise _failed("the server refused the message", exc.smtp_code) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise SendFailed(f"could not talk to the mail server ({type(exc).__name__})") from None

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._tls)
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _secure_and_login(self, smtp: smtplib.SMTP) -> None:
        smtp.ehlo()
        if self.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise SendFailed(
                    "the server does not offer STARTTLS; nothing was sent in the clear"
                )
            smtp.starttls(context=self._tls)
            smtp.ehlo()
        if self.username and self._password is not None:
            smtp.login(self.username, self._password.get_secret_value())


def _failed(what: str, code: int) -> SendFailed:
    return SendFailed(f"{what} ({code})", permanent=500 <= code < 600)


def _sender(mail_from: str) -> str:
    """``privacy@shop.example`` or ``Shop Privacy <privacy@shop.example>``, checked."""
    if any(ch in mail_from for ch in "\r\n\x00"):
        raise UnsafeHeader("COVENANT_MAIL_FROM holds a line break")
    name, addr = email.utils.parseaddr(mail_from)
    address(addr)
    return email.utils.formataddr((name, addr)) if name else addr


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
