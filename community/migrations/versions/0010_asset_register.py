"""the asset register: sites, buildings, households; device names, places and register status; owner accounts
(name, phone, disabled, invite codes); MQTT credentials

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

DEVICE_COLUMNS = [
    ('name', sa.String(120)), ('floor', sa.String(16)), ('location', sa.String(120)), ('household', sa.String(32)),
    ('model', sa.String(64)), ('vendor', sa.String(64)), ('contractor', sa.String(120)),
    ('contractor_phone', sa.String(32)), ('installed_on', sa.Date()), ('registration_code', sa.String(64)),
]


def upgrade() -> None:
    op.create_table(
        'sites',
        sa.Column('site_id', sa.String(64), primary_key=True),
        sa.Column('name', sa.String(120), nullable=False),
        sa.Column('timezone', sa.String(64)),
        sa.Column('manager', sa.String(64)),
        sa.Column('manager_phone', sa.String(32)),
        sa.Column('address', sa.String(200)),
    )
    op.create_table(
        'buildings',
        sa.Column('site_id', sa.String(64), sa.ForeignKey('sites.site_id'), primary_key=True),
        sa.Column('building_id', sa.String(64), primary_key=True),
        sa.Column('name', sa.String(120)),
        sa.Column('floors', sa.Integer()),
    )
    op.create_table(
        'households',
        sa.Column('site_id', sa.String(64), primary_key=True),
        sa.Column('building_id', sa.String(64), primary_key=True),
        sa.Column('unit', sa.String(32), primary_key=True),
        sa.Column('floor', sa.String(16)),
        sa.Column('area_m2', sa.Float()),
        sa.Column('holder', sa.String(64)),
        sa.Column('phone', sa.String(32)),
    )
    op.create_table(
        'mqtt_credentials',
        sa.Column('username', sa.String(64), primary_key=True),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('device_id', sa.String(64), index=True),
        sa.Column('password_hash', sa.String(200), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked', sa.Boolean(), nullable=False),
    )
    op.create_table(
        'invites',
        sa.Column('code_hash', sa.String(64), primary_key=True),
        sa.Column('username', sa.String(64), sa.ForeignKey('users.username', ondelete='CASCADE'), nullable=False,
                  index=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table('devices') as batch:
        batch.alter_column('last_seen', existing_type=sa.DateTime(timezone=True), nullable=True)
        batch.add_column(sa.Column('status', sa.String(16), nullable=False, server_default='pending'))
        batch.create_index('ix_devices_status', ['status'])
        for name, type_ in DEVICE_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('name', sa.String(64)))
        batch.add_column(sa.Column('phone', sa.String(32)))
        batch.add_column(sa.Column('disabled', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        for name in ('disabled', 'phone', 'name'):
            batch.drop_column(name)
    with op.batch_alter_table('devices') as batch:
        for name, _type in reversed(DEVICE_COLUMNS):
            batch.drop_column(name)
        batch.drop_index('ix_devices_status')
        batch.drop_column('status')
    for table in ('invites', 'mqtt_credentials', 'households', 'buildings', 'sites'):
        op.drop_table(table)
