"""The tables behind staff sign-in, in Covenant's own database.

``staff_accounts`` holds who may use the console and how hard their password
is to guess offline (argon2id only, never the password). ``staff_sessions``
holds one row per signed-in browser, keyed by the SHA-256 of the session
token: the token itself lives only in the browser's cookie, so a copy of this
table signs nobody in.
"""

from __future__ import annotations

import sqlalchemy as sa

from covenant.audit.store import UTCDateTime
from covenant.db import metadata

staff_accounts = sa.Table(
    "staff_accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Case-folded and NFKC-normalized (see covenant.staff.usernames): "Ana" and
    # "ana" are one account, so the unique constraint also stops look-alikes.
    sa.Column("username", sa.String(128), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    # Failed sign-ins in the current window, which began at first_failed_at.
    # Counted before the password is checked, in one UPDATE, so parallel
    # guesses cannot exceed the limit (see covenant.staff.accounts).
    sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_failed_at", UTCDateTime, nullable=True),
    sa.Column("locked_until", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("disabled_at", UTCDateTime, nullable=True),
)

staff_sessions = sa.Table(
    "staff_sessions",
    metadata,
    # Hex SHA-256 of the token in the cookie.
    sa.Column("id", sa.String(64), primary_key=True),
    # Binds CSRF tokens to this session (covenant.web.csrf).
    sa.Column("csrf_secret", sa.String(64), nullable=False),
    sa.Column(
        "account_id",
        sa.Integer,
        sa.ForeignKey("staff_accounts.id"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)
