"""The one event loop every command runs on: uvloop (libuv), uvicorn's choice too.

Sending is bound by the event loop (a callback per SMTP reply, a wake-up per database answer from
aiosqlite's thread); libuv does that work in C. The README's Throughput section has the figure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a new uvloop loop: tasks left over are cancelled and the loop closed."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
