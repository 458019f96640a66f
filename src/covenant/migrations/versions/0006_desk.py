"""The request desk: sealed details, e-mail proof, deliveries, results, manual tasks, notes.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from covenant.audit.store import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _request_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["request_id"], ["requests.id"], name=op.f(f"fk_{table}_request_id")
    )


def upgrade() -> None:
    op.create_table(
        "request_details",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("email_ref", sa.String(length=64), nullable=True),
        sa.Column("purge_after", UTCDateTime(timezone=True), nullable=False),
        _request_fk("request_details"),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_details")),
    )
    with op.batch_alter_table("request_details") as batch_op:
        batch_op.create_index(batch_op.f("ix_request_details_email_ref"), ["email_ref"])
        batch_op.create_index(batch_op.f("ix_request_details_purge_after"), ["purge_after"])

    op.create_table(
        "request_challenges",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts_left", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), server_default="1", nullable=False),
        _request_fk("request_challenges"),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_challenges")),
    )

    op.create_table(
        "request_deliveries",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("file", sa.String(length=64), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_sealed", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("downloads", sa.Integer(), server_default="0", nullable=False),
        sa.Column("deleted_at", UTCDateTime(timezone=True), nullable=True),
        _request_fk("request_deliveries"),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_deliveries")),
    )
    with op.batch_alter_table("request_deliveries") as batch_op:
        batch_op.create_index(batch_op.f("ix_request_deliveries_expires_at"), ["expires_at"])

    op.create_table(
        "request_results",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        _request_fk("request_results"),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_results")),
    )

    op.create_table(
        "request_tasks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=False),
        sa.Column("done_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=64), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        _request_fk("request_tasks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_tasks")),
        sa.UniqueConstraint("request_id", "target", name="uq_request_tasks_request_target"),
    )
    with op.batch_alter_table("request_tasks") as batch_op:
        batch_op.create_index(batch_op.f("ix_request_tasks_request_id"), ["request_id"])

    op.create_table(
        "request_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _request_fk("request_notes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_notes")),
    )
    with op.batch_alter_table("request_notes") as batch_op:
        batch_op.create_index(batch_op.f("ix_request_notes_request_id"), ["request_id"])


def downgrade() -> None:
    for table in (
        "request_notes",
        "request_tasks",
        "request_results",
        "request_deliveries",
        "request_challenges",
        "request_details",
    ):
        op.drop_table(table)
