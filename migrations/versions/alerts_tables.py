"""alerts: the alerts table, the alerted conditions, and resolved failed events (branch alerts)

Revision ID: alerts_1
Revises: pipeline_1
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'alerts_1'
down_revision: Union[str, Sequence[str], None] = 'pipeline_1'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('events', sa.Column('resolved_at', sa.DateTime(), nullable=True))
    op.add_column('events', sa.Column('resolved_note', sa.Text(), nullable=True))
    op.create_table(
        'alerts',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('integration_id', sa.String(length=32), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('deliveries', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('give_up_at', sa.DateTime(), nullable=True),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('covers_until', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_alerts_due', 'alerts', ['status', 'next_attempt_at'])
    op.create_index('ix_alerts_kind', 'alerts', ['kind', 'integration_id', 'created_at'])
    op.create_table(
        'alert_conditions',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('since', sa.DateTime(), nullable=False),
        sa.Column('alert_id', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    with op.batch_alter_table('events') as batch:
        batch.drop_column('resolved_note')
        batch.drop_column('resolved_at')
    op.drop_table('alert_conditions')
    op.drop_index('ix_alerts_kind', table_name='alerts')
    op.drop_index('ix_alerts_due', table_name='alerts')
    op.drop_table('alerts')
