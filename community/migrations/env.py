"""Alembic environment: runs on the connection ``core.db.migrate`` hands over."""

from alembic import context

from community.schema import load_tables
from core.db import Base

load_tables()  # registers every table on Base.metadata
connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
