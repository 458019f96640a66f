"""The tables that keep requests and every move they made, in Covenant's own database.

They hold the CCPA §7101 record for each request (request date, nature,
manner, response date, nature of the response, basis of any denial) and no
personal data: the person is referred to by ``subject_ref``, an opaque
reference, never an e-mail address or a name.
"""

from __future__ import annotations

import sqlalchemy as sa

from covenant.db import metadata

requests = sa.Table(
    "requests",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("state", sa.String(32), nullable=False, index=True),
    sa.Column("jurisdiction", sa.String(16), nullable=False),
    sa.Column("subject_ref", sa.String(64), nullable=False, index=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("respond_by", sa.DateTime(timezone=True), nullable=True, index=True),
    sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
    # The nature of the response: the final state.
    sa.Column("response", sa.String(32), nullable=True),
    sa.Column("denial_reason", sa.String(32), nullable=True),
    # Bumped by every move: two workers moving one request cannot both win.
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
)

transitions = sa.Table(
    "request_transitions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "request_id", sa.String(36), sa.ForeignKey("requests.id"), nullable=False, index=True
    ),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("target", sa.String(32), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
)
