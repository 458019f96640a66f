"""The mail outbox: messages kept, sealed, until they are sent.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from covenant.audit.store import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _sealed() -> sa.types.TypeEngine[str]:
    return (
        sa.Text().with_variant(mysql.LONGTEXT(), "mariadb").with_variant(mysql.LONGTEXT(), "mysql")
    )


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("template", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("to_sealed", _sealed(), nullable=True),
        sa.Column("subject_sealed", _sealed(), nullable=True),
        sa.Column("text_sealed", _sealed(), nullable=True),
        sa.Column("html_sealed", _sealed(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_mail_outbox_state", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(
            "ix_mail_outbox_request_id", ["request_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_mail_outbox_created_at", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_outbox_created_at")
        batch_op.drop_index("ix_mail_outbox_request_id")
        batch_op.drop_index("ix_mail_outbox_state")

    op.drop_table("mail_outbox")
