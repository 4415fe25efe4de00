"""Alembic environment: runs on the connection ``community.db.migrate`` hands over."""

from alembic import context

import community.models  # noqa: F401  - registers every table on Base.metadata
from community.db import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
