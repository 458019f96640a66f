"""The table behind API tokens, in Covenant's own database.

``api_tokens`` holds one row per token the store's backend may use, keyed by
the SHA-256 of the token: the token itself is printed once, when it is made,
and never stored, so a copy of this table calls no API. Revoked tokens keep
their row (and their name) as the record of who could do what, and when.
"""

from __future__ import annotations

import sqlalchemy as sa

from covenant.audit.store import UTCDateTime
from covenant.db import metadata

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Lower-case letters, digits, '-' and '_' (covenant.api.tokens.NAME): the
    # name is part of the audit trail's actor, ``api:<name>``.
    sa.Column("name", sa.String(48), nullable=False, unique=True),
    # The first characters of the token's random part: enough to tell tokens
    # apart in a listing or a secret scanner's report, far too few to guess from.
    sa.Column("prefix", sa.String(8), nullable=False),
    # Hex SHA-256 of the whole token.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    # Space-separated, sorted, as OAuth writes scopes (RFC 6749 §3.3).
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)
