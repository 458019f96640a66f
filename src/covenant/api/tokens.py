"""API tokens: making them, checking them, listing and revoking them.

Owns ``api_tokens``. A token is ``cov_`` and 256 random bits in URL-safe
base64 (43 characters); the ``cov_`` prefix lets secret scanners recognise a
leaked one. Only its SHA-256 is stored. A fast hash is right here and a slow
one (argon2, as for staff passwords) is not: a slow hash protects secrets
people choose, which are few enough to guess offline; nobody guesses one of
2^256 values, whatever the hash costs, and a fast hash keeps every API call
from spending tens of milliseconds of CPU, which would also hand anyone
with a bad token a cheap way to load the server (OWASP Password Storage
Cheat Sheet covers the first half; the second is RFC 6750 §5.2's "token
guessing" threat, answered by the token's entropy).

Checking is constant-time where it matters: the token is looked up by its
hash through a unique index, so how long the lookup takes depends on the
hash, which an attacker cannot steer toward a stored one without a
SHA-256 preimage, and the stored hash is then compared with
:func:`hmac.compare_digest`. A malformed, unknown or revoked token all give
the same ``None``.

``last_used_at`` is written at most once a minute per token: enough to see
which tokens are idle, without turning every read into a write.

Never reads the clock: callers pass ``now``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from covenant.api.events import ApiTokenCreated, ApiTokenRevoked
from covenant.api.scopes import Scope, from_text, to_text
from covenant.api.tables import api_tokens
from covenant.audit import AuditLog
from covenant.errors import CovenantError

PREFIX = "cov_"
TOKEN_BYTES = 32
TOKEN = re.compile(r"cov_[A-Za-z0-9_-]{43}")
"""What :func:`new_token` makes; anything else is refused before it is hashed."""
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")
"""A token's name: it becomes the audit trail's actor ``api:<name>``."""
SHOWN = 8
"""Characters of the random part kept in clear, to tell tokens apart in listings."""
TOUCH_EVERY = dt.timedelta(minutes=1)

_t = api_tokens.c


class TokenError(CovenantError):
    """The API token could not be changed."""

    exit_code = 2
    status = 400


class BadTokenName(TokenError):
    """A token's name is 1 to 48 lower-case letters, digits, '-' or '_', starting with a letter or digit."""


class TokenNameTaken(TokenError):
    """A token with that name exists (revoked tokens keep their name); choose another name."""

    status = 409


class NoSuchToken(TokenError):
    """No API token has that name."""

    status = 404


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    name: str
    prefix: str
    scopes: frozenset[Scope]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def actor(self) -> str:
        """Who acts, as the audit trail and the request's record name them."""
        return f"api:{self.name}"

    @property
    def shown(self) -> str:
        """The token as a listing shows it: its prefix, never the whole."""
        return f"{PREFIX}{self.prefix}…"

    @property
    def ref(self) -> str:
        """The token's row as the audit trail names it."""
        return f"api_token:{self.id}"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def check_name(name: str) -> str:
    name = name.strip().lower()
    if not NAME.fullmatch(name):
        raise BadTokenName()
    return name


class ApiTokens:
    """The API tokens in Covenant's own database; changes audited in ``audit``'s chain."""

    def __init__(self, engine: sa.Engine, *, audit: AuditLog | None = None) -> None:
        self.engine = engine
        self.audit = audit

    def __repr__(self) -> str:
        return f"ApiTokens({self.engine.url.render_as_string(hide_password=True)!r})"

    def create(
        self, name: str, scopes: frozenset[Scope], *, now: dt.datetime
    ) -> tuple[str, ApiToken]:
        """A new token: the secret, to show once, and its record."""
        name = check_name(name)
        if not scopes:
            raise TokenError("a token needs at least one scope")
        token = new_token()
        prefix, scope_text = token[len(PREFIX) : len(PREFIX) + SHOWN], to_text(scopes)
        row = {
            "name": name,
            "prefix": prefix,
            "token_hash": digest(token),
            "scopes": scope_text,
            "created_at": now,
        }
        audit = self._audit()
        try:
            with audit.transaction() as conn:
                if conn.execute(sa.select(_t.id).where(_t.name == name)).first() is not None:
                    raise TokenNameTaken()
                made = conn.execute(api_tokens.insert().values(row)).inserted_primary_key
                assert made is not None
                token_id = int(made[0])
                audit.append_in(
                    conn,
                    ApiTokenCreated(
                        actor="system", subject_ref=f"api_token:{token_id}", scopes=scope_text
                    ),
                    at=now,
                )
        except sa.exc.IntegrityError:
            raise TokenNameTaken() from None  # made at the same moment by someone else
        return token, ApiToken(token_id, name, prefix, scopes, now, None, None)

    def verify(self, token: str, *, now: dt.datetime) -> ApiToken | None:
        """The live token ``token`` is, or None: malformed, unknown or revoked alike."""
        if not TOKEN.fullmatch(token):
            return None
        hashed = digest(token)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(_t.token_hash == hashed)).first()
        if row is None or not hmac.compare_digest(row.token_hash, hashed):
            return None
        found = _token(row)
        if found.revoked_at is not None:
            return None
        if found.last_used_at is None or now - found.last_used_at >= TOUCH_EVERY:
            with self.engine.begin() as conn:
                # The condition repeats the check, so parallel calls write once.
                conn.execute(
                    api_tokens.update()
                    .where(
                        _t.id == found.id,
                        sa.or_(_t.last_used_at.is_(None), _t.last_used_at <= now - TOUCH_EVERY),
                    )
                    .values(last_used_at=now)
                )
        return found

    def all(self) -> list[ApiToken]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(api_tokens).order_by(_t.id)).all()
        return [_token(r) for r in rows]

    def find(self, name: str) -> ApiToken | None:
        try:
            name = check_name(name)
        except BadTokenName:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(_t.name == name)).first()
        return _token(row) if row is not None else None

    def revoke(self, name: str, *, now: dt.datetime) -> ApiToken:
        """Stop the token named ``name`` working at once; revoking twice changes nothing."""
        found = self.find(name)
        if found is None:
            raise NoSuchToken()
        if found.revoked_at is not None:
            return found
        audit = self._audit()
        with audit.transaction() as conn:
            done = conn.execute(
                api_tokens.update()
                .where(_t.id == found.id, _t.revoked_at.is_(None))
                .values(revoked_at=now)
            ).rowcount
            if done == 1:
                audit.append_in(
                    conn, ApiTokenRevoked(actor="system", subject_ref=found.ref), at=now
                )
        return self.find(name) or found

    def _audit(self) -> AuditLog:
        if self.audit is None:
            raise TokenError("changing API tokens needs the audit trail")
        return self.audit


def _token(row: sa.Row[tuple[object, ...]]) -> ApiToken:
    m = row._mapping
    return ApiToken(
        id=m["id"],
        name=m["name"],
        prefix=m["prefix"],
        scopes=from_text(m["scopes"]),
        created_at=m["created_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )
