"""ledger: events carry their source; links carry a status (interface §10)

Revision ID: ledger_1
Revises: matching_1

- ``events.source`` (``current_rms`` | ``poll`` | ``ledger``), existing rows ``current_rms``;
- ``events.kind`` widened to 20 characters for ``contact_changed``;
- ``events.contact_id``: a ledger event's contact, indexed with the integration;
- ``links.status`` (``ok`` | ``broken``) and ``links.broken_reason``.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'ledger_1'
down_revision: Union[str, Sequence[str], None] = 'matching_1'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=20), nullable=False,
                                      server_default='current_rms'))
        batch_op.alter_column('kind', existing_type=sa.String(length=10),
                              type_=sa.String(length=20), existing_nullable=False)
        batch_op.add_column(sa.Column('contact_id', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_events_contact', ['integration_id', 'contact_id'], unique=False)
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=10), nullable=False,
                                      server_default='ok'))
        batch_op.add_column(sa.Column('broken_reason', sa.Text(), nullable=True))
        batch_op.create_index('ix_links_status', ['integration_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index('ix_links_status')
        batch_op.drop_column('broken_reason')
        batch_op.drop_column('status')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_contact')
        batch_op.drop_column('contact_id')
        batch_op.alter_column('kind', existing_type=sa.String(length=20),
                              type_=sa.String(length=10), existing_nullable=False)
        batch_op.drop_column('source')
