"""languages: a user's own, a site's default; work-order titles and notices in every language

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('language', sa.String(8), nullable=True))
    with op.batch_alter_table('sites') as batch:
        batch.add_column(sa.Column('language', sa.String(8), nullable=True))
    with op.batch_alter_table('work_orders') as batch:
        batch.add_column(sa.Column('titles', sa.JSON(), nullable=True))
    with op.batch_alter_table('notices') as batch:
        batch.add_column(sa.Column('texts', sa.JSON(), nullable=True))


def downgrade() -> None:
    for table, column in (('notices', 'texts'), ('work_orders', 'titles'), ('sites', 'language'),
                          ('users', 'language')):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
