"""A throw-away PostgreSQL database for one benchmark run, on the server a ``--pg`` URL names:
made with a random name, dropped afterwards even when the run fails. Imported by the scripts
beside it (``python bench/X.py`` puts this folder on the path)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


async def _admin(base: str) -> Any:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    return await asyncpg.connect(host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username,
                                 password=url.password, database=url.database or "postgres")


async def create_pg(base: str, prefix: str) -> str:
    """A new empty database beside ``base``'s; returns its SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = await _admin(base)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return str(make_url(base).set(database=name).render_as_string(hide_password=False))


async def drop_pg(base: str, url: str) -> None:
    from sqlalchemy.engine import make_url

    conn = await _admin(base)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def scratch_pg(base: str, prefix: str) -> AsyncIterator[str]:
    url = await create_pg(base, prefix)
    try:
        yield url
    finally:
        await drop_pg(base, url)
