"""What the request desk keeps beside each request, in Covenant's own database.

The request row (:mod:`covenant.requests.tables`) holds no personal data. What
the desk needs to act -- the identities the request names, where to write to
the requester, an agent's details, the corrections asked for -- is kept in
``request_details`` sealed (encrypted and authenticated with the service's
key), and deleted when the request's 24-month record period ends (CCPA regs
§7101(a)): the record stays, the person's details go.

E-mail proof codes are kept as keyed hashes only (:mod:`covenant.requests.codes`),
delivery links likewise; a copy of this database alone reveals neither.
"""

from __future__ import annotations

import sqlalchemy as sa

from covenant.audit.store import UTCDateTime
from covenant.db import metadata

details = sa.Table(
    "request_details",
    metadata,
    sa.Column("request_id", sa.String(36), sa.ForeignKey("requests.id"), primary_key=True),
    # Fernet token of a JSON object; see covenant.desk.intake.Details.
    sa.Column("sealed", sa.Text, nullable=False),
    # A keyed hash of the requester's e-mail: repeat requests are counted
    # (CCPA §1798.130(b)) without keeping the address in the clear.
    sa.Column("email_ref", sa.String(64), nullable=True, index=True),
    sa.Column("purge_after", UTCDateTime(timezone=True), nullable=False, index=True),
)

challenges = sa.Table(
    "request_challenges",
    metadata,
    sa.Column("request_id", sa.String(36), sa.ForeignKey("requests.id"), primary_key=True),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
    sa.Column("attempts_left", sa.Integer, nullable=False),
    # How many codes were sent for this request: resending is capped too.
    sa.Column("issued", sa.Integer, nullable=False, server_default="1"),
)

deliveries = sa.Table(
    "request_deliveries",
    metadata,
    sa.Column("request_id", sa.String(36), sa.ForeignKey("requests.id"), primary_key=True),
    # The package's file name in the delivery folder: random, not derived from the request.
    sa.Column("file", sa.String(64), nullable=False),
    # The file's own random key, sealed: dropping the row makes the file unreadable.
    sa.Column("key", sa.Text, nullable=False),
    # A keyed hash of the download token; the token itself is only in the message.
    sa.Column("token_hash", sa.String(64), nullable=False),
    # The token sealed, for the completion message; written with the row, so a
    # crash between storing the file and mailing its link loses neither.
    sa.Column("token_sealed", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False, index=True),
    sa.Column("downloads", sa.Integer, nullable=False, server_default="0"),
    sa.Column("deleted_at", UTCDateTime(timezone=True), nullable=True),
)

results = sa.Table(
    "request_results",
    metadata,
    sa.Column("request_id", sa.String(36), sa.ForeignKey("requests.id"), primary_key=True),
    # Counts per collection and what was kept and why: never values.
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("at", UTCDateTime(timezone=True), nullable=False),
)

tasks = sa.Table(
    "request_tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "request_id", sa.String(36), sa.ForeignKey("requests.id"), nullable=False, index=True
    ),
    # The recipient or system key the task is about.
    sa.Column("target", sa.String(64), nullable=False),
    sa.Column("target_kind", sa.String(16), nullable=False),
    sa.Column("checklist", sa.JSON, nullable=False),
    sa.Column("done_at", UTCDateTime(timezone=True), nullable=True),
    sa.Column("done_by", sa.String(64), nullable=True),
    sa.Column("evidence", sa.Text, nullable=True),
    sa.UniqueConstraint("request_id", "target", name="uq_request_tasks_request_target"),
)

notes = sa.Table(
    "request_notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "request_id", sa.String(36), sa.ForeignKey("requests.id"), nullable=False, index=True
    ),
    sa.Column("at", UTCDateTime(timezone=True), nullable=False),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
)
