"""ledger: a link remembers the contact's own stamp in the answer to our last write

Revision ID: ledger_2
Revises: recovery_1

- ``links.last_written_stamp``: the accounting system's stamp of the contact (Xero
  ``UpdatedDateUTC``, QuickBooks ``MetaData.LastUpdatedTime``, Sage ``updated_at``) as the
  answer to the service's last write gave it; a change reported with that very stamp is the
  echo of that write and costs no call (interface §10). Nullable: links made without a write,
  and every link before this revision, have none (their changes are read, as before).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'ledger_2'
down_revision: Union[str, Sequence[str], None] = 'recovery_1'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch rebuild): ``links`` keeps its table and indexes as they are.
    op.add_column('links', sa.Column('last_written_stamp', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_column('last_written_stamp')
