"""Import every module that defines tables, so Alembic and ``Base.metadata`` see them all."""

from gateway import deadletter  # noqa: F401
