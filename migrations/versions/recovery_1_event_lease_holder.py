"""recovery: events.lease_holder, the process holding an event's lease (issue 13, finding 8)

Revision ID: recovery_1
Revises: owed_1
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'recovery_1'
down_revision: Union[str, Sequence[str], None] = 'owed_1'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch rebuild): SQLite keeps the events triggers of owed_1.
    op.add_column('events', sa.Column('lease_holder', sa.String(length=200), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place (no rebuild either), so the triggers stay.
    op.drop_column('events', 'lease_holder')
