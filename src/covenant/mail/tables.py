"""The outbox table: every message Covenant means to send, in its own database.

What a message says, and to whom, is sealed (``covenant.keys.Sealer``): messages
carry one-time codes and download links, and a copy of the database must not
hand them out. What the staff console needs to find and follow a message stays
plain: the template name, the request it belongs to, its state and times, and
the Message-ID. ``last_error`` is a short reason written by Covenant (an SMTP
reply code and a fixed phrase), never the server's text, which may echo the
address.

Sealed columns are NULL once a sent or failed message is purged
(:meth:`covenant.mail.outbox.Outbox.purge_sent`): the record that a message
went out stays, its content goes.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from covenant.audit.store import UTCDateTime
from covenant.db import metadata

# TEXT is 64 KiB on MariaDB; a sealed body is about 1.4 times the message.
_SEALED = (
    sa.Text().with_variant(mysql.LONGTEXT(), "mariadb").with_variant(mysql.LONGTEXT(), "mysql")
)

mail_outbox = sa.Table(
    "mail_outbox",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("template", sa.String(32), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("to_sealed", _SEALED, nullable=True),
    sa.Column("subject_sealed", _SEALED, nullable=True),
    sa.Column("text_sealed", _SEALED, nullable=True),
    sa.Column("html_sealed", _SEALED, nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    # While a sender holds a message, this is the end of its claim: a sender that
    # dies mid-send leaves the message to be retried once the claim runs out.
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.String(200), nullable=True),
    # RFC 5322 §3.6.4, fixed at queue time so a retried send keeps the same id.
    sa.Column("message_id", sa.String(255), nullable=False),
    sa.Index("ix_mail_outbox_state", "state", "next_attempt_at"),
    sa.Index("ix_mail_outbox_request_id", "request_id", "created_at"),
    sa.Index("ix_mail_outbox_created_at", "created_at"),
)
