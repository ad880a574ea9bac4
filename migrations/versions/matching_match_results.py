"""match review results (issue 15, branch matching)

Revision ID: matching_1
Revises: alerts_1
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'matching_1'
down_revision: Union[str, Sequence[str], None] = 'alerts_1'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'match_results',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('integration_id', sa.String(length=32), nullable=False),
        sa.Column('job_id', sa.String(length=32), nullable=False),
        sa.Column('organisation_id', sa.BigInteger(), nullable=False),
        sa.Column('organisation_name', sa.String(length=500), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('candidates', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['integration_id'], ['integrations.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('integration_id', 'organisation_id', name='uq_match_results_organisation'),
    )
    with op.batch_alter_table('match_results', schema=None) as batch_op:
        batch_op.create_index('ix_match_results_kind', ['integration_id', 'kind', 'organisation_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('match_results', schema=None) as batch_op:
        batch_op.drop_index('ix_match_results_kind')
    op.drop_table('match_results')
