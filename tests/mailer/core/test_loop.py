"""The one event loop of the commands and the sending processes (``mailer.core.loop``)."""

from __future__ import annotations

import asyncio

import uvloop

from mailer.core import loop


def test_commands_run_on_uvloop_and_leave_no_task_behind() -> None:
    left: list[asyncio.Task[None]] = []

    async def main() -> type[asyncio.AbstractEventLoop]:
        left.append(asyncio.create_task(asyncio.sleep(3600)))  # still waiting when main returns
        return type(asyncio.get_running_loop())

    assert loop.run(main()) is uvloop.Loop
    assert left[0].cancelled()
