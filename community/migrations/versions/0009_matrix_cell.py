"""work_orders.matrix_cell: the demand-response matrix cell (urgency-service-reach)

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('work_orders') as batch:
        batch.add_column(sa.Column('matrix_cell', sa.String(length=32), nullable=True))
        batch.create_index('ix_work_orders_matrix_cell', ['matrix_cell'])


def downgrade() -> None:
    with op.batch_alter_table('work_orders') as batch:
        batch.drop_index('ix_work_orders_matrix_cell')
        batch.drop_column('matrix_cell')
