"""KPI colours per site and the warnings their changes sent

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'kpi_states',
        sa.Column('site', sa.String(length=64), nullable=False),
        sa.Column('kpi', sa.String(length=40), nullable=False),
        sa.Column('colour', sa.String(length=8), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('judged_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('site', 'kpi'),
    )
    op.create_table(
        'kpi_warnings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('site', sa.String(length=64), nullable=False),
        sa.Column('kpi', sa.String(length=40), nullable=False),
        sa.Column('colour', sa.String(length=8), nullable=False),
        sa.Column('previous', sa.String(length=8), nullable=True),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('target', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_kpi_warnings_at', 'kpi_warnings', ['at'])
    op.create_index('ix_kpi_warnings_site', 'kpi_warnings', ['site'])


def downgrade() -> None:
    op.drop_index('ix_kpi_warnings_site', table_name='kpi_warnings')
    op.drop_index('ix_kpi_warnings_at', table_name='kpi_warnings')
    op.drop_table('kpi_warnings')
    op.drop_table('kpi_states')
