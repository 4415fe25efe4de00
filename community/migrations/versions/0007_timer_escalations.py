"""work_orders: when the arrive and resolve timers were escalated (each once)

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('work_orders') as batch:
        batch.add_column(sa.Column('arrive_escalated_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('resolve_escalated_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('work_orders') as batch:
        batch.drop_column('resolve_escalated_at')
        batch.drop_column('arrive_escalated_at')
