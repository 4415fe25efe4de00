"""The whole relational schema: imports every module that defines tables (so Alembic and ``Base.metadata`` see
them all) and runs the migrations under ``community/migrations``."""

from pathlib import Path

from sqlalchemy import Engine

from core import db

MIGRATIONS = Path(__file__).parent / "migrations"


def load_tables() -> None:
    """Register every domain's tables on ``Base.metadata``."""
    from alerts import models as _alerts  # noqa: F401
    from devices import models as _devices  # noqa: F401
    from gateway import deadletter as _deadletter  # noqa: F401
    from intake import models as _intake  # noqa: F401
    from kpis import models as _kpis  # noqa: F401
    from notices import models as _notices  # noqa: F401
    from notifications import models as _notifications  # noqa: F401
    from people import models as _people  # noqa: F401
    from register import models as _register  # noqa: F401
    from reports import models as _reports  # noqa: F401
    from workorders import models as _workorders  # noqa: F401


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    load_tables()
    db.migrate(engine, MIGRATIONS)
