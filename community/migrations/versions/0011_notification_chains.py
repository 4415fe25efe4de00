"""notifications: chains of channels per person (person, priority, the links left, retry window, fallback)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        batch.add_column(sa.Column('person_id', sa.String(64), nullable=True))
        batch.add_column(sa.Column('priority', sa.String(16), nullable=True))
        batch.add_column(sa.Column('chain', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('give_up_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('window_s', sa.Float(), nullable=True))
        batch.add_column(sa.Column('fell_back_to', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notifications') as batch:
        for name in ('fell_back_to', 'window_s', 'give_up_at', 'chain', 'priority', 'person_id'):
            batch.drop_column(name)
