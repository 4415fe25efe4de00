"""kind and skill columns as wide as the registry allows (devices.kinds.base.NAME_MAX = 32)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

WIDENED = [("devices", "kind"), ("work_orders", "kind"), ("work_orders", "skill")]


def upgrade() -> None:
    for table, column in WIDENED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=sa.String(length=16), type_=sa.String(length=32),
                               existing_nullable=False)


def downgrade() -> None:
    for table, column in WIDENED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, existing_type=sa.String(length=32), type_=sa.String(length=16),
                               existing_nullable=False)
