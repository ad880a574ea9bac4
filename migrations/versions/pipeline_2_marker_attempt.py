"""pipeline: a create marker names the attempt that sent it (issue 12)

Only that attempt's own cleanup may clear the marker as "certainly refused or never sent"; a
later attempt (after a killed worker, a lost answer or a lost lock) never clears a request
another attempt sent.

Revision ID: pipeline_2
Revises: ledger_2
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "pipeline_2"
down_revision: Union[str, Sequence[str], None] = "ledger_2"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch rebuild): nothing else of ``sent_creates`` changes.
    op.add_column("sent_creates", sa.Column("attempt", sa.String(length=200), nullable=False,
                                            server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("sent_creates") as batch:
        batch.drop_column("attempt")
