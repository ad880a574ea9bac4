"""ledger: a link keeps the mapped fields of the service's last write to its contact

The ledger poll lists contacts in full; a contact listed exactly as the service last wrote it
is the echo of that write and costs no call (``core.ledger.is_polled_echo``). A hash alone could
not say so: each system stores some fields its own way (Sage keeps the country as a code), so
the comparison is field by field, as the system stores them.

Revision ID: ledger_3
Revises: pipeline_2
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "ledger_3"
down_revision: Union[str, Sequence[str], None] = "pipeline_2"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch rebuild): nothing else of ``links`` changes.
    op.add_column("links", sa.Column("written_fields", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("written_fields")
