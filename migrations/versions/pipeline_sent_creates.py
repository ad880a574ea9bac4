"""pipeline: the create marker records what was sent (issue 12)

Revision ID: pipeline_1
Revises: 0001
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "pipeline_1"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "sent_creates",
        sa.Column("integration_id", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.BigInteger(), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("account_number", sa.String(length=200), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"]),
        sa.PrimaryKeyConstraint("integration_id", "organisation_id"),
    )
    # The old name-only markers carry over as "sent, only the name known"; then the old table goes.
    op.execute(
        "INSERT INTO sent_creates (integration_id, organisation_id, sent, name, account_number,"
        " idempotency_key, body_digest, fields, sent_at)"
        " SELECT integration_id, organisation_id, true, name, '', '', '', '{}', started_at"
        " FROM create_markers"
    )
    op.drop_table("create_markers")


def downgrade() -> None:
    op.create_table(
        "create_markers",
        sa.Column("integration_id", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["integration_id"], ["integrations.id"]),
        sa.PrimaryKeyConstraint("integration_id", "organisation_id"),
    )
    op.execute(
        "INSERT INTO create_markers (integration_id, organisation_id, name, started_at)"
        " SELECT integration_id, organisation_id, name, sent_at FROM sent_creates"
    )
    op.drop_table("sent_creates")
