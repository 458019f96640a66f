"""E-mail proof codes of the preference center, kept as keyed hashes.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from covenant.audit.store import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "preference_challenges",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject_ref", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts_left", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preference_challenges")),
    )
    with op.batch_alter_table("preference_challenges") as batch_op:
        batch_op.create_index(batch_op.f("ix_preference_challenges_subject_ref"), ["subject_ref"])
        batch_op.create_index(batch_op.f("ix_preference_challenges_expires_at"), ["expires_at"])


def downgrade() -> None:
    op.drop_table("preference_challenges")
