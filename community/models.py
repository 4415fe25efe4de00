"""Import every module that defines tables, so Alembic and ``Base.metadata`` see them all."""

from alerts import models  # noqa: F401,E402
from gateway import deadletter  # noqa: F401
