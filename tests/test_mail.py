"""Notifications: templates, header safety, the sealed outbox on every backend, real SMTP.

SMTP is a real server (aiosmtpd on 127.0.0.1, in a thread), with STARTTLS,
implicit TLS and AUTH under a self-signed certificate made here; the
databases are the real ones from ``conftest``.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import inspect
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware

from covenant.db import connect, metadata
from covenant.declaration import load
from covenant.keys import Keys, SealBroken
from covenant.mail import messages as mm
from covenant.mail.messages import (
    BadAddress,
    Letterhead,
    Message,
    MessageInvalid,
    UnsafeHeader,
    completion,
    denial,
    extension,
    receipt,
    verification,
)
from covenant.mail.outbox import Outbox, OutboxState
from covenant.mail.retry import RetryPolicy
from covenant.mail.smtp import SendFailed, SmtpSender, compose
from covenant.mail.web import linkify
from covenant.mail.web import routes as outbox_routes
from covenant.migrations import upgrade
from covenant.requests.lifecycle import Kind
from covenant.settings import Settings
from covenant.web.headers import SecurityHeaders

AUDIO = Path(__file__).parent.parent / "examples" / "audio-store" / "covenant.yml"
SHOP = Letterhead("Sonora Audio", "privacy@sonora.example", phone="+1 415 555 0100")
T0 = dt.datetime(2025, 3, 3, 14, 0, tzinfo=dt.UTC)
CODE = "73019284"
LINK = "https://privacy.sonora.example/verify/Zk3q9VwX_secret-token"
PUBLIC = "https://privacy.sonora.example"


def code_message(to: str = "ana@example.com") -> Message:
    return verification(
        to, letterhead=SHOP, expires_in=dt.timedelta(minutes=30), code=CODE, link=LINK
    )


# -- templates -----------------------------------------------------------------------


def test_receipt_names_the_request_the_check_that_follows_and_the_date() -> None:
    m = receipt(
        "ana@example.com",
        kind=Kind.DELETE,
        received=dt.date(2025, 3, 3),
        respond_by=dt.date(2025, 4, 17),
        letterhead=SHOP,
        reference="r-1234",
    )
    assert m.template == "receipt"
    assert m.subject == "Sonora Audio received your privacy request"
    assert "request to delete your personal information" in m.text
    assert "March 3, 2025" in m.text
    assert "We will answer by April 17, 2025." in m.text
    assert "we check that the request comes from you" in m.text
    assert "r-1234" in m.text
    assert "privacy@sonora.example" in m.text
    assert "+1 415 555 0100" in m.text
    assert m.html is not None
    assert '<html lang="en">' in m.html
    assert "April 17, 2025" in m.html


def test_an_opt_out_receipt_asks_for_no_proof() -> None:
    m = receipt(
        "ana@example.com",
        kind=Kind.OPT_OUT_SALE,
        received=dt.date(2025, 3, 3),
        respond_by=dt.date(2025, 3, 24),
        letterhead=SHOP,
    )
    assert "You do not need to prove who you are" in m.text
    assert "code" not in m.text


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_of_request_has_plain_words(kind: Kind) -> None:
    m = receipt(
        "ana@example.com",
        kind=kind,
        received=dt.date(2025, 3, 3),
        respond_by=dt.date(2025, 4, 17),
        letterhead=SHOP,
    )
    assert mm.KIND_WORDS[kind] in m.text
    assert "_" not in m.text  # no enum values leak into the text
    done = completion("ana@example.com", kind=kind, letterhead=SHOP)
    assert mm.DONE_WORDS[kind] in done.text


def test_receipt_and_verification_cannot_tell_a_customer_from_a_stranger() -> None:
    # The text may only depend on what the requester gave; nothing in the API
    # could carry "we found you".
    for fn in (receipt, verification):
        params = set(inspect.signature(fn).parameters)
        assert params <= {
            "to",
            "kind",
            "received",
            "respond_by",
            "letterhead",
            "reference",
            "expires_in",
            "code",
            "link",
            "status",
        }
    known, unknown = code_message("ana@example.com"), code_message("nobody@example.org")
    assert known.text == unknown.text
    assert known.subject == unknown.subject
    assert "may hold" in known.text


def test_verification_gives_the_code_the_link_the_expiry_and_ignore_if_not_you() -> None:
    m = code_message()
    assert CODE in m.text
    assert LINK in m.text
    assert "work for 30 minutes" in m.text
    assert "If you did not ask, ignore this message." in m.text
    assert CODE not in m.subject  # a lock screen shows the subject
    only_link = verification(
        "ana@example.com", letterhead=SHOP, expires_in=dt.timedelta(minutes=45), link=LINK
    )
    assert "The link works for 45 minutes." in only_link.text
    assert f'href="{LINK}"' in (only_link.html or "")
    only_code = verification(
        "ana@example.com", letterhead=SHOP, expires_in=dt.timedelta(hours=1), code=CODE
    )
    assert "The code works for 1 hour." in only_code.text
    assert "http" not in only_code.text.split("Questions?")[0]


@pytest.mark.parametrize(
    ("code", "link"),
    [(None, None), ("1234567", None), ("1234567a", None), (None, "javascript:alert(1)")],
)
def test_verification_refuses_a_bad_code_or_link(code: str | None, link: str | None) -> None:
    with pytest.raises(MessageInvalid):
        verification(
            "ana@example.com",
            letterhead=SHOP,
            expires_in=dt.timedelta(minutes=30),
            code=code,
            link=link,
        )


def test_extension_gives_the_new_date_and_the_reason_in_one_paragraph() -> None:
    m = extension(
        "ana@example.com",
        kind=Kind.ACCESS,
        respond_by=dt.date(2025, 6, 1),
        reason="Your data is kept in\n\nFAKE: click http://evil.test several systems.",
        letterhead=SHOP,
    )
    assert "We will answer by June 1, 2025." in m.text
    # Line breaks in staff text cannot forge a paragraph of their own.
    assert "Why: Your data is kept in FAKE: click http://evil.test several systems." in m.text


def test_denial_gives_the_basis_and_the_way_to_appeal() -> None:
    m = denial(
        "ana@example.com",
        kind=Kind.DELETE,
        reason="We could not confirm that the request came from you.",
        letterhead=SHOP,
    )
    assert "Why: We could not confirm that the request came from you." in m.text
    assert "ask us to look again" in m.text
    assert "privacy@sonora.example" in m.text
    assert "complain to the authority" in m.text
    with_appeal = denial(
        "ana@example.com",
        kind=Kind.DELETE,
        reason="A law requires us to keep it.",
        letterhead=SHOP,
        appeal="Use the appeal form at https://sonora.example/appeal.",
    )
    assert "Use the appeal form at https://sonora.example/appeal." in with_appeal.text


def test_completion_of_an_export_gives_the_link_and_its_expiry() -> None:
    m = completion(
        "ana@example.com",
        kind=Kind.ACCESS,
        letterhead=SHOP,
        download="https://privacy.sonora.example/download/abc",
        download_expires_in=dt.timedelta(days=7),
    )
    assert "Your copy of your personal information is ready." in m.text
    assert "https://privacy.sonora.example/download/abc" in m.text
    assert "The link works for 7 days." in m.text
    deleted = completion(
        "ana@example.com",
        kind=Kind.DELETE,
        letterhead=SHOP,
        note="We kept your orders for 7 years because tax law requires it.",
    )
    assert "We deleted your personal information." in deleted.text
    assert "tax law" in deleted.text
    with pytest.raises(MessageInvalid):
        completion("ana@example.com", kind=Kind.ACCESS, letterhead=SHOP, download=LINK)


def test_the_letterhead_comes_from_the_declaration() -> None:
    org = load(AUDIO).declaration.organization
    head = Letterhead.of(org)
    assert (head.name, head.email) == (org.name, org.contacts.privacy_email)
    text = receipt(
        "ana@example.com",
        kind=Kind.ACCESS,
        received=dt.date(2025, 3, 3),
        respond_by=dt.date(2025, 4, 17),
        letterhead=head,
    ).text
    assert org.name in text
    assert org.contacts.privacy_email in text


def test_unicode_names_and_hostile_names_are_safe() -> None:
    head = Letterhead("Café Ünïcødé <script>alert(1)</script>", "privacy@café.example")
    m = completion("josé.núñez@correo.example", kind=Kind.CORRECT, letterhead=head)
    assert "Café Ünïcødé <script>alert(1)</script>" in m.text  # plain text stays as written
    assert m.html is not None
    assert "<script>" not in m.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in m.html


@pytest.mark.parametrize(
    "to",
    [
        "ana@example.com\r\nBcc: everyone@example.com",
        "ana@example.com\nBcc: x@example.com",
        "ana@example.com\x00",
        "ana@exa\u2028mple.com",
    ],
)
def test_a_line_break_in_an_address_is_refused(to: str) -> None:
    with pytest.raises(UnsafeHeader):
        Message(to=to, subject="Hello", text="Hi")
    with pytest.raises(UnsafeHeader):
        code_message(to)


@pytest.mark.parametrize(
    "to",
    [
        "",
        "ana",
        "ana@",
        "@example.com",
        "a@b@c.example",
        "Ana <ana@example.com>",
        "a,b@x.example",
        "x" * 250 + "@e.example",
    ],
)
def test_a_malformed_address_is_refused(to: str) -> None:
    with pytest.raises(BadAddress):
        Message(to=to, subject="Hello", text="Hi")


def test_a_line_break_in_a_subject_or_organization_name_is_refused() -> None:
    with pytest.raises(UnsafeHeader):
        Message(to="ana@example.com", subject="Hi\r\nBcc: x@example.com", text="Hi")
    with pytest.raises(UnsafeHeader):
        Letterhead("Shop\nBcc: x@example.com", "privacy@shop.example")
    with pytest.raises(MessageInvalid):
        Message(to="ana@example.com", subject="x" * 201, text="Hi")
    with pytest.raises(MessageInvalid):
        Message(to="ana@example.com", subject="Hi", text="x" * (mm.BODY_MAX + 1))


# -- SMTP: a real server ------------------------------------------------------------


@dataclass
class Collector:
    """An aiosmtpd handler that keeps every message and refuses the recipients asked."""

    envelopes: list[Any] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def parsed(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.original_content, policy=email.policy.default)
            for e in self.envelopes
        ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for 127.0.0.1: cert file, key file, PEM for the client."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem", pem


def server_tls(certificate: tuple[Path, Path, bytes]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate[0], certificate[1])
    return context


def client_tls(certificate: tuple[Path, Path, bytes]) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=certificate[2].decode())


@dataclass
class Server:
    collector: Collector
    port: int
    logins: list[tuple[bytes, bytes]]


def running(**kwargs: Any) -> Iterator[Server]:
    collector, logins = Collector(), []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret-pass"
        if ok:
            logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=ok, handled=False)

    port = free_port()
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        ready_timeout=10,
        **kwargs,
    )
    controller.start()
    try:
        yield Server(collector, port, logins)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    """Plain SMTP on 127.0.0.1, AUTH allowed without TLS: a relay on this host."""
    yield from running(auth_require_tls=False)


def plain_sender(server: Server, **kwargs: Any) -> SmtpSender:
    return SmtpSender(
        host="127.0.0.1",
        port=server.port,
        security="none",
        mail_from="Sonora Privacy <privacy@sonora.example>",
        timeout=10,
        **kwargs,
    )


def test_a_message_goes_over_real_smtp_with_date_message_id_and_both_parts(
    smtp_server: Server,
) -> None:
    sender = plain_sender(smtp_server)
    sender.send(code_message(), message_id="<abc@sonora.example>", date=T0)
    (envelope,) = smtp_server.collector.envelopes
    assert envelope.mail_from == "privacy@sonora.example"
    assert envelope.rcpt_tos == ["ana@example.com"]
    (mail,) = smtp_server.collector.parsed()
    assert mail["Message-ID"] == "<abc@sonora.example>"
    assert mail["Date"] == "Mon, 03 Mar 2025 14:00:00 +0000"
    assert mail["From"] == "Sonora Privacy <privacy@sonora.example>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None
    assert CODE in text.get_content()
    assert html is not None
    assert CODE in html.get_content()


def test_a_unicode_subject_travels_encoded(smtp_server: Server) -> None:
    plain_sender(smtp_server).send(
        Message(to="ana@example.com", subject="Ihre Anfrage bei Müller & Söhne", text="Grüße"),
        message_id="<u@sonora.example>",
        date=T0,
    )
    (mail,) = smtp_server.collector.parsed()
    assert mail["Subject"] == "Ihre Anfrage bei Müller & Söhne"
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content().strip() == "Grüße"


def test_login_on_a_local_relay_and_a_wrong_password(smtp_server: Server) -> None:
    good = plain_sender(smtp_server, username="covenant", password=SecretStr("s3cret-pass"))
    good.send(code_message(), message_id="<a@sonora.example>", date=T0)
    assert smtp_server.logins == [(b"covenant", b"s3cret-pass")]
    assert "s3cret" not in repr(good)
    bad = plain_sender(smtp_server, username="covenant", password=SecretStr("wrong"))
    with pytest.raises(SendFailed, match=r"refused the login \(535\)") as caught:
        bad.send(code_message(), message_id="<b@sonora.example>", date=T0)
    assert not caught.value.permanent
    assert len(smtp_server.collector.envelopes) == 1


def test_no_password_in_the_clear_to_a_remote_server() -> None:
    with pytest.raises(mm.MailError, match="in the clear"):
        SmtpSender(
            host="smtp.example.com",
            port=25,
            security="none",
            mail_from="privacy@sonora.example",
            username="covenant",
            password=SecretStr("s3cret-pass"),
        )


def test_starttls_with_login(certificate: tuple[Path, Path, bytes]) -> None:
    for server in running(tls_context=server_tls(certificate), require_starttls=True):
        sender = SmtpSender(
            host="127.0.0.1",
            port=server.port,
            security="starttls",
            mail_from="privacy@sonora.example",
            username="covenant",
            password=SecretStr("s3cret-pass"),
            tls_context=client_tls(certificate),
            timeout=10,
        )
        sender.send(code_message(), message_id="<s@sonora.example>", date=T0)
        assert len(server.collector.envelopes) == 1
        assert server.logins == [(b"covenant", b"s3cret-pass")]


def test_starttls_is_never_downgraded(smtp_server: Server) -> None:
    # This server offers no STARTTLS: the message must not go in the clear.
    sender = SmtpSender(
        host="127.0.0.1",
        port=smtp_server.port,
        security="starttls",
        mail_from="privacy@sonora.example",
        timeout=10,
    )
    with pytest.raises(SendFailed, match="STARTTLS"):
        sender.send(code_message(), message_id="<d@sonora.example>", date=T0)
    assert smtp_server.collector.envelopes == []


def test_implicit_tls_checks_the_certificate(certificate: tuple[Path, Path, bytes]) -> None:
    for server in running(ssl_context=server_tls(certificate)):
        trusting = SmtpSender(
            host="127.0.0.1",
            port=server.port,
            security="tls",
            mail_from="privacy@sonora.example",
            tls_context=client_tls(certificate),
            timeout=10,
        )
        trusting.send(code_message(), message_id="<t@sonora.example>", date=T0)
        assert len(server.collector.envelopes) == 1
        # The system's trust store does not know this certificate: refused.
        doubting = SmtpSender(
            host="127.0.0.1",
            port=server.port,
            security="tls",
            mail_from="privacy@sonora.example",
            timeout=10,
        )
        with pytest.raises(SendFailed, match="could not talk"):
            doubting.send(code_message(), message_id="<u@sonora.example>", date=T0)
        assert len(server.collector.envelopes) == 1


def test_an_unreachable_server_is_a_temporary_failure() -> None:
    sender = SmtpSender(
        host="127.0.0.1",
        port=free_port(),
        security="none",
        mail_from="privacy@sonora.example",
        timeout=5,
    )
    with pytest.raises(SendFailed, match="could not talk") as caught:
        sender.send(code_message(), message_id="<x@sonora.example>", date=T0)
    assert not caught.value.permanent


def test_settings_without_a_host_make_no_sender() -> None:
    assert SmtpSender.from_settings(Settings(smtp_host=None)) is None
    made = SmtpSender.from_settings(
        Settings(
            smtp_host="127.0.0.1", smtp_port=2525, smtp_security="none", mail_from="p@x.example"
        )
    )
    assert made is not None
    assert (made.port, made.security) == (2525, "none")
    with pytest.raises(UnsafeHeader):
        SmtpSender.from_settings(
            Settings(smtp_host="h", mail_from="p@x.example\r\nBcc: y@z.example")
        )


def test_compose_keeps_headers_on_one_line() -> None:
    mail = compose(code_message(), mail_from="p@x.example", message_id="<m@x.example>", date=T0)
    for name, value in mail.items():
        assert "\n" not in value, name
        assert "\r" not in value, name


# -- the outbox on every backend -------------------------------------------------------

SEALER = Keys(b"k" * 32).sealer()


@pytest.fixture
def outbox(db_url: str) -> Iterator[Outbox]:
    url = sa.make_url(db_url)
    upgrade(url)
    engine = connect(url)
    yield Outbox(
        engine,
        SEALER,
        domain="sonora.example",
        retry=RetryPolicy(max_attempts=3),
    )
    engine.dispose()


def test_the_migration_makes_the_outbox_table_of_the_model(outbox: Outbox) -> None:
    with outbox.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert [d for d in diff if "mail_outbox" in repr(d)] == []


def test_sealed_columns_do_not_hold_the_code_the_link_or_the_address(outbox: Outbox) -> None:
    entry_id = outbox.queue(code_message(), request_id="req-1", at=T0)
    with outbox.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM mail_outbox")).mappings().one()
    raw = " ".join(str(v) for v in row.values())
    for secret in (CODE, "Zk3q9VwX_secret-token", "ana@example.com", "Confirm your request"):
        assert secret not in raw
    assert (row["template"], row["request_id"], row["state"]) == ("verification", "req-1", "queued")
    assert row["message_id"] == f"<{entry_id}@sonora.example>"
    (entry,) = outbox.pending()
    assert entry.message == code_message()
    # Another key opens nothing.
    stranger = Outbox(outbox.engine, Keys(b"z" * 32).sealer())
    with pytest.raises(SealBroken):
        stranger.pending()


def test_queue_inside_the_callers_transaction(outbox: Outbox) -> None:
    def queue_then_fail() -> None:
        with outbox.engine.begin() as conn:
            outbox.queue(code_message(), conn=conn, at=T0)
            conn.execute(sa.text("UPDATE no_such_table SET x = 1"))  # the move fails

    with pytest.raises(sa.exc.DBAPIError):
        queue_then_fail()
    assert outbox.pending() == []
    with outbox.engine.begin() as conn:
        outbox.queue(code_message(), conn=conn, at=T0)
    assert len(outbox.pending()) == 1


def test_queue_refuses_naive_times_and_odd_request_ids(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="timezone"):
        outbox.queue(code_message(), at=dt.datetime(2025, 3, 3))
    with pytest.raises(MessageInvalid):
        outbox.queue(code_message(), request_id="<script>", at=T0)
    assert outbox.pending() == []


def test_deliver_sends_marks_sent_and_keeps_the_message_id(
    outbox: Outbox, smtp_server: Server
) -> None:
    first = outbox.queue(code_message(), request_id="req-1", at=T0)
    later = T0 + dt.timedelta(minutes=5)
    second = outbox.queue(code_message("bo@example.com"), request_id="req-2", at=later)
    assert outbox.deliver(plain_sender(smtp_server), now=T0) == 1  # the second is not due yet
    assert outbox.deliver(plain_sender(smtp_server), now=later) == 1
    assert outbox.deliver(plain_sender(smtp_server), now=later) == 0
    ids = [m["Message-ID"] for m in smtp_server.collector.parsed()]
    assert ids == [f"<{first}@sonora.example>", f"<{second}@sonora.example>"]
    newest, oldest = outbox.messages()
    assert (newest.id, oldest.id) == (second, first)
    assert (oldest.state, oldest.attempts, oldest.sent_at) == (OutboxState.SENT, 1, T0)
    assert oldest.message is not None
    assert oldest.message.to == "ana@example.com"
    assert [e.id for e in outbox.messages(request_id="req-2")] == [second]
    assert outbox.pending() == []


def test_without_a_server_nothing_is_sent_and_messages_wait(outbox: Outbox) -> None:
    outbox.queue(code_message(), at=T0)
    assert outbox.deliver(None, now=T0 + dt.timedelta(days=1)) == 0
    (entry,) = outbox.pending()
    assert (entry.state, entry.attempts) == (OutboxState.QUEUED, 0)


def test_a_temporary_refusal_backs_off_then_fails(outbox: Outbox, smtp_server: Server) -> None:
    smtp_server.collector.refuse["ana@example.com"] = "451 4.3.0 <ana@example.com> try later"
    entry_id = outbox.queue(code_message(), at=T0)
    sender = plain_sender(smtp_server)
    assert outbox.deliver(sender, now=T0) == 0
    (entry,) = outbox.pending()
    assert entry.attempts == 1
    assert entry.next_attempt_at == T0 + dt.timedelta(minutes=1)
    assert entry.last_error == "the server refused the recipient (451)"
    # Not due again before its time: nothing is tried.
    assert outbox.deliver(sender, now=T0 + dt.timedelta(seconds=30)) == 0
    assert outbox.pending()[0].attempts == 1
    second = T0 + dt.timedelta(minutes=1)
    outbox.deliver(sender, now=second)
    assert outbox.pending()[0].next_attempt_at == second + dt.timedelta(minutes=2)
    outbox.deliver(sender, now=second + dt.timedelta(minutes=2))
    final = outbox.get(entry_id)
    assert final is not None
    assert (final.state, final.attempts, final.next_attempt_at) == (OutboxState.FAILED, 3, None)
    assert outbox.pending() == []
    assert outbox.deliver(sender, now=T0 + dt.timedelta(days=9)) == 0
    assert smtp_server.collector.envelopes == []


def test_a_permanent_refusal_fails_at_once_without_the_servers_words(
    outbox: Outbox, smtp_server: Server
) -> None:
    smtp_server.collector.refuse["ana@example.com"] = "550 5.1.1 <ana@example.com>: no such user"
    entry_id = outbox.queue(code_message(), at=T0)
    assert outbox.deliver(plain_sender(smtp_server), now=T0) == 0
    entry = outbox.get(entry_id)
    assert entry is not None
    assert entry.state is OutboxState.FAILED
    assert entry.attempts == 1
    assert entry.last_error == "the server refused the recipient (550)"


def test_a_failing_message_does_not_hold_up_the_others(outbox: Outbox, smtp_server: Server) -> None:
    smtp_server.collector.refuse["ana@example.com"] = "451 4.3.0 busy"
    outbox.queue(code_message(), at=T0)
    outbox.queue(code_message("bo@example.com"), at=T0)
    assert outbox.deliver(plain_sender(smtp_server), now=T0) == 1
    assert [e.rcpt_tos for e in smtp_server.collector.envelopes] == [["bo@example.com"]]


def test_two_deliverers_send_each_message_exactly_once(outbox: Outbox, smtp_server: Server) -> None:
    queued = {outbox.queue(code_message(f"p{i}@example.com"), at=T0) for i in range(24)}
    start = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            counts.append(outbox.deliver(plain_sender(smtp_server), now=T0))
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sum(counts) == 24
    ids = [m["Message-ID"] for m in smtp_server.collector.parsed()]
    assert sorted(ids) == sorted(f"<{q}@sonora.example>" for q in queued)
    assert all(e.state is OutboxState.SENT and e.attempts == 1 for e in outbox.messages())


def test_a_claim_left_by_a_dead_deliverer_is_taken_again_later(
    outbox: Outbox, smtp_server: Server
) -> None:
    entry_id = outbox.queue(code_message(), at=T0)
    # A deliverer claims the message, then dies before it sends anything.
    assert outbox._claim(T0) is not None
    assert outbox.deliver(plain_sender(smtp_server), now=T0 + dt.timedelta(minutes=5)) == 0
    assert outbox.deliver(plain_sender(smtp_server), now=T0 + outbox.claim_for) == 1
    entry = outbox.get(entry_id)
    assert entry is not None
    assert (entry.state, entry.attempts) == (OutboxState.SENT, 2)
    (mail,) = smtp_server.collector.parsed()
    assert mail["Message-ID"] == entry.message_id


def test_purge_blanks_what_was_sent_and_keeps_the_record(
    outbox: Outbox, smtp_server: Server
) -> None:
    sent = outbox.queue(code_message(), at=T0)
    outbox.deliver(plain_sender(smtp_server), now=T0)
    waiting = outbox.queue(code_message("bo@example.com"), at=T0 + dt.timedelta(hours=2))
    assert outbox.purge_sent(T0) == 0  # not older than the cut-off yet
    assert outbox.purge_sent(T0 + dt.timedelta(days=1)) == 1
    assert outbox.purge_sent(T0 + dt.timedelta(days=1)) == 0
    by_id = {e.id: e for e in outbox.messages()}
    assert by_id[sent].message is None
    assert by_id[sent].state is OutboxState.SENT
    assert by_id[waiting].message is not None
    with outbox.engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT to_sealed, subject_sealed, text_sealed, html_sealed, message_id "
                "FROM mail_outbox WHERE id = :id"
            ),
            {"id": sent},
        ).one()
    assert tuple(row[:4]) == (None, None, None, None)
    assert row[4]


# -- the outbox page -------------------------------------------------------------------


def page_client(outbox: Outbox, *, enabled: bool) -> httpx.AsyncClient:
    app = Starlette(
        routes=outbox_routes(),
        middleware=[Middleware(SecurityHeaders, development=False)],
    )
    app.state.settings = Settings(outbox_page=enabled, public_url=PUBLIC)
    app.state.outbox = outbox
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sqlite_outbox(tmp_path: Path) -> Iterator[Outbox]:
    url = sa.make_url(f"sqlite:///{tmp_path}/state.db")
    upgrade(url)
    engine = connect(url)
    yield Outbox(engine, SEALER, domain="sonora.example")
    engine.dispose()


@pytest.mark.anyio
async def test_the_outbox_page_is_404_unless_turned_on(sqlite_outbox: Outbox) -> None:
    entry_id = sqlite_outbox.queue(code_message(), at=T0)
    async with page_client(sqlite_outbox, enabled=False) as c:
        for path in ("/outbox", f"/outbox/{entry_id}", "/outbox/outbox.css"):
            r = await c.get(path)
            assert r.status_code == 404
            assert CODE not in r.text
    async with page_client(sqlite_outbox, enabled=True) as c:
        r = await c.get("/outbox")
        assert r.status_code == 200
        assert r.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert CODE in r.text
        assert "ana@example.com" in r.text
        assert "<pre>" in r.text
        assert '<html lang="en">' in r.text
        assert 'name="viewport"' in r.text
        one = await c.get(f"/outbox/{entry_id}")
        assert one.status_code == 200
        assert CODE in one.text
        css = await c.get("/outbox/outbox.css")
        assert css.headers["content-type"].startswith("text/css")
        for missing in ("/outbox/0b0e9c1e-0000-4000-8000-000000000000", "/outbox/not-an-id"):
            assert (await c.get(missing)).status_code == 404


@pytest.mark.anyio
async def test_the_outbox_page_escapes_everything_and_links_only_our_urls(
    sqlite_outbox: Outbox,
) -> None:
    hostile = Letterhead('<script>alert("org")</script>', "privacy@sonora.example")
    message = Message(
        to="ana@example.com",
        subject='<script>alert("subject")</script>',
        text=(
            f"Open {PUBLIC}/verify/abc. Not https://evil.test/x or "
            f"{PUBLIC}.evil.test/y or javascript:alert(1) <img src=x onerror=alert(1)>"
        ),
    )
    sqlite_outbox.queue(message, request_id="req-9", at=T0)
    sqlite_outbox.queue(completion("bo@example.com", kind=Kind.DELETE, letterhead=hostile), at=T0)
    async with page_client(sqlite_outbox, enabled=True) as c:
        r = await c.get("/outbox")
        by_request = await c.get("/outbox", params={"request": "req-9"})
        bad_filter = await c.get("/outbox", params={"request": "<x>"})
    assert "<script>" not in r.text
    assert "<img" not in r.text
    assert "&lt;script&gt;alert(&#34;subject&#34;)&lt;/script&gt;" in r.text
    assert f'<a href="{PUBLIC}/verify/abc">{PUBLIC}/verify/abc</a>.' in r.text
    assert 'href="https://evil.test' not in r.text
    assert f'href="{PUBLIC}.evil.test' not in r.text
    assert 'href="javascript' not in r.text
    assert by_request.text.count("<article") == 1
    assert bad_filter.status_code == 404


def test_linkify_stops_at_sentence_punctuation() -> None:
    out = linkify(f"See {PUBLIC}/a?b=1&c=2, then stop.", PUBLIC)
    assert str(out) == (
        f'See <a href="{PUBLIC}/a?b=1&amp;c=2">{PUBLIC}/a?b=1&amp;c=2</a>, then stop.'
    )


def test_messages_about_a_request_link_to_its_status_page() -> None:
    status = "https://privacy.example.com/privacy/requests/abc/def"
    m = receipt(
        "ana@example.com",
        kind=Kind.ACCESS,
        received=dt.date(2025, 3, 3),
        respond_by=dt.date(2025, 4, 17),
        letterhead=SHOP,
        status=status,
    )
    assert status in m.text
    assert f'href="{status}"' in (m.html or "")
    with pytest.raises(mm.MailError):
        receipt(
            "ana@example.com",
            kind=Kind.ACCESS,
            received=dt.date(2025, 3, 3),
            respond_by=dt.date(2025, 4, 17),
            letterhead=SHOP,
            status="javascript:alert(1)",
        )
