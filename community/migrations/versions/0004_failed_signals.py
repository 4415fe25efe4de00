"""failed signals: what the alert engine could not apply, with the reason

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'failed_signals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('rule_id', sa.String(length=64), nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('fire', sa.Boolean(), nullable=False),
        sa.Column('source_ms', sa.BigInteger(), nullable=False),
        sa.Column('reason', sa.String(length=1000), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_failed_signals_at', 'failed_signals', ['at'])


def downgrade() -> None:
    op.drop_index('ix_failed_signals_at', table_name='failed_signals')
    op.drop_table('failed_signals')
