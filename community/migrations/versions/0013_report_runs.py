"""report_runs: the daily reports sent, one per site and day

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'report_runs',
        sa.Column('site', sa.String(64), primary_key=True),
        sa.Column('day', sa.Date(), primary_key=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('pdf', sa.String(300), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('report_runs')
