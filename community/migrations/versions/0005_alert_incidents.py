"""alerts.incident_key: a device lost as part of a storm incident

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('incident_key', sa.String(length=140), nullable=True))
        batch.create_index('ix_alerts_incident_key', ['incident_key'])


def downgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.drop_index('ix_alerts_incident_key')
        batch.drop_column('incident_key')
