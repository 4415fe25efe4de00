"""people's requests: who asked, through which channel, what for; photos; idempotency keys

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('work_orders') as batch:
        batch.add_column(sa.Column('source', sa.String(length=16), nullable=False, server_default='device'))
        batch.add_column(sa.Column('channel', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('category', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('description', sa.Text(), nullable=True))
        batch.add_column(sa.Column('reporter', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('reporter_phone', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('reopened', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('request_key', sa.String(length=160), nullable=True))
        batch.create_index('ix_work_orders_category', ['category'])
        batch.create_index('ix_work_orders_reporter', ['reporter'])
        batch.create_unique_constraint('uq_work_orders_request_key', ['request_key'])
    op.create_table(
        'attachments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('work_order_id', sa.Integer(), sa.ForeignKey('work_orders.id', ondelete='CASCADE'), nullable=False),
        sa.Column('stored_as', sa.String(length=200), nullable=False),
        sa.Column('content_type', sa.String(length=32), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_attachments_work_order_id', 'attachments', ['work_order_id'])


def downgrade() -> None:
    op.drop_index('ix_attachments_work_order_id', table_name='attachments')
    op.drop_table('attachments')
    with op.batch_alter_table('work_orders') as batch:
        batch.drop_constraint('uq_work_orders_request_key', type_='unique')
        batch.drop_index('ix_work_orders_reporter')
        batch.drop_index('ix_work_orders_category')
        for column in ('request_key', 'reopened', 'reporter_phone', 'reporter', 'description', 'category',
                       'channel', 'source'):
            batch.drop_column(column)
