"""Alembic environment: runs on the connection handed over by ``Database.upgrade``."""

from alembic import context

import mailer.core.models  # noqa: F401  (registers the tables)
import subscribers.models  # noqa: F401
from mailer.core.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `mailer db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
