"""The append-only consent ledger.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from covenant.audit.store import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_records",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_ref", sa.String(length=128), nullable=True),
        sa.Column("consent_id", sa.String(length=64), nullable=True),
        sa.Column("topic", sa.String(length=80), nullable=True),
        sa.Column("choice", sa.String(length=16), nullable=True),
        sa.Column("notice_version", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("jurisdiction", sa.String(length=8), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "subject_ref IS NOT NULL OR consent_id IS NOT NULL",
            name=op.f("ck_consent_records_party"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_consent_records")),
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index("ix_consent_records_consent_id", ["consent_id", "seq"], unique=False)
        batch_op.create_index(
            "ix_consent_records_subject_ref", ["subject_ref", "seq"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_records_subject_ref")
        batch_op.drop_index("ix_consent_records_consent_id")

    op.drop_table("consent_records")
