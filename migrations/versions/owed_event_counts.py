"""owed: event_counts, kept by triggers on events, and the ops page's covering index (issue 13, finding 3)

Revision ID: owed_1
Revises: ledger_1
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

from core.store import event_count_triggers

revision: str = 'owed_1'
down_revision: Union[str, Sequence[str], None] = 'ledger_1'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'event_counts',
        sa.Column('integration_id', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('integration_id', 'status'),
    )
    op.create_index('ix_events_received_status', 'events', ['received_at', 'integration_id', 'status'])
    connection = op.get_bind()
    connection.exec_driver_sql(event_count_triggers.SEED)
    event_count_triggers.install(connection)


def downgrade() -> None:
    connection = op.get_bind()
    for statement in event_count_triggers.DROP[connection.dialect.name]:
        connection.exec_driver_sql(statement)
    op.drop_table('event_counts')
    op.drop_index('ix_events_received_status', table_name='events')
