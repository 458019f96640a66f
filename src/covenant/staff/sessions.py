"""Server-side staff sessions: starting, loading, ending them.

Owns ``staff_sessions``. A session is a random 256-bit token in the browser's
cookie; the database keeps only its SHA-256, so a copy of the table cannot be
replayed as a cookie (OWASP Session Management Cheat Sheet). Every sign-in
starts a new session with a new token, so a token planted before sign-in is
worth nothing after it (session fixation, same sheet, "Renew the Session ID
After Any Privilege Level Change").

A session ends after ``idle`` without a request (30 minutes by default) or
``absolute`` after sign-in (12 hours), whichever comes first, and at once
when revoked: sign-out, a password change, disabling the account. The role
and the account's state are read with the session on every request, so a
role change or a disabled account applies to the very next request.

The cookie: ``__Host-covenant_staff`` (the ``__Host-`` prefix, RFC 6265bis
§4.1.3.2, makes browsers insist on Secure, Path=/ and no Domain, so a sibling
subdomain cannot set or shadow it), ``covenant_staff`` in local development
over plain HTTP; always HttpOnly and SameSite=Strict.

Never reads the clock: callers pass ``now``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from covenant.staff.accounts import Account
from covenant.staff.roles import Role
from covenant.staff.tables import staff_accounts, staff_sessions

COOKIE = "__Host-covenant_staff"
DEV_COOKIE = "covenant_staff"
TOKEN_BYTES = 32
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
"""What ``secrets.token_urlsafe(32)`` makes; anything else is refused unhashed."""

_s = staff_sessions.c
_a = staff_accounts.c


def cookie_name(*, development: bool) -> str:
    return DEV_COOKIE if development else COOKIE


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    """SHA-256 of the token, in hex: safe to log, useless as a cookie."""
    account_id: int
    username: str
    role: Role
    csrf_secret: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime

    @property
    def actor(self) -> str:
        """Who acts, as the audit trail names them."""
        return f"staff:{self.account_id}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class StaffSessions:
    """Sessions in Covenant's own database."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        idle: dt.timedelta = dt.timedelta(minutes=30),
        absolute: dt.timedelta = dt.timedelta(hours=12),
        touch_every: dt.timedelta = dt.timedelta(minutes=1),
    ) -> None:
        self.engine = engine
        self.idle = idle
        self.absolute = absolute
        # Writing last_seen_at on every request would make each page view a
        # write; once a minute keeps the idle timeout accurate to a minute.
        self.touch_every = touch_every

    def __repr__(self) -> str:
        return f"StaffSessions({self.engine.url.render_as_string(hide_password=True)!r})"

    def start(self, account: Account, *, now: dt.datetime) -> tuple[str, Session]:
        """A new session for ``account``: the token for the cookie, and the session."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session = Session(
            id=digest(token),
            account_id=account.id,
            username=account.username,
            role=account.role,
            csrf_secret=secrets.token_urlsafe(TOKEN_BYTES),
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.absolute,
        )
        with self.engine.begin() as conn:
            conn.execute(
                staff_sessions.insert().values(
                    id=session.id,
                    csrf_secret=session.csrf_secret,
                    account_id=account.id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=session.expires_at,
                )
            )
        return token, session

    def load(self, token: str, *, now: dt.datetime) -> Session | None:
        """The live session ``token`` stands for, or None: unknown, expired, revoked or disabled."""
        if not _TOKEN.fullmatch(token):
            return None
        query = (
            sa.select(staff_sessions, _a.username, _a.role)
            .join(staff_accounts, _a.id == _s.account_id)
            .where(_s.id == digest(token), _s.revoked_at.is_(None), _a.disabled_at.is_(None))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        m = row._mapping
        if now >= m["expires_at"] or now >= m["last_seen_at"] + self.idle:
            return None
        seen = m["last_seen_at"]
        if now - seen >= self.touch_every:
            with self.engine.begin() as conn:
                conn.execute(
                    staff_sessions.update()
                    .where(_s.id == m["id"], _s.revoked_at.is_(None))
                    .values(last_seen_at=now)
                )
            seen = now
        return Session(
            id=m["id"],
            account_id=m["account_id"],
            username=m["username"],
            role=Role(m["role"]),
            csrf_secret=m["csrf_secret"],
            created_at=m["created_at"],
            last_seen_at=seen,
            expires_at=m["expires_at"],
        )

    def revoke(self, token: str, *, now: dt.datetime | None = None) -> None:
        """End the session ``token`` stands for (sign-out); unknown tokens are ignored."""
        if not _TOKEN.fullmatch(token):
            return
        self._revoke(_s.id == digest(token), now)

    def revoke_all(self, account_id: int, *, now: dt.datetime | None = None) -> int:
        """End every session of one account; how many were live."""
        return self._revoke(_s.account_id == account_id, now)

    def _revoke(self, where: sa.ColumnElement[bool], now: dt.datetime | None) -> int:
        at = now or dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            done = conn.execute(
                staff_sessions.update().where(where, _s.revoked_at.is_(None)).values(revoked_at=at)
            )
        return done.rowcount

    def purge(self, *, now: dt.datetime) -> int:
        """Delete sessions that ended (expired, idle or revoked) before ``now``; how many."""
        ended = sa.or_(
            _s.expires_at <= now,
            _s.last_seen_at <= now - self.idle,
            _s.revoked_at.is_not(None),
        )
        with self.engine.begin() as conn:
            return conn.execute(staff_sessions.delete().where(ended)).rowcount
