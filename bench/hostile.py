"""What an attacker measures, measured: the answer time of ``POST /subscribe`` for addresses that
are new against addresses already subscribed (they must not differ), and the time to refuse a
30 MB body (it must be refused, not parsed). A script, not a test: it prints figures and ratios.

    .venv/bin/python bench/hostile.py --requests 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn

from mailer.core.settings import load_settings
from mailer.delivery.devmailbox import free_port
from mailer.delivery.service import Service
from mailer.web.app import create_app, server_config
from subscribers import store


async def main(requests: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    settings = load_settings(None, data_dir=tmp / "data", database_url=f"sqlite+aiosqlite:///{tmp / 'b.db'}",
                             secret_key="b" * 40, subscribe_ip_limits="100000/minute", devmailbox_port=0)
    svc = await Service(settings).start()
    async with svc.db.transaction() as session:
        for n in range(requests):
            await store.add(session, f"member{n}@example.org", now=svc.clock(), status="confirmed")
    port = free_port()
    server = uvicorn.Server(server_config(create_app(svc), host="127.0.0.1", port=port))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to wait on)
        await asyncio.sleep(0.02)
    times: dict[str, list[float]] = {"new": [], "member": []}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for n in range(requests):  # interleaved, each after the previous work is done
            for kind in ("new", "member"):
                await svc.later.settle()
                started = time.perf_counter()
                reply = await client.post("/subscribe", data={"email": f"{kind}{n}@example.org"})
                times[kind].append(time.perf_counter() - started)
                assert reply.status_code == 200
        started = time.perf_counter()
        big = await client.post("/subscribe", content=b'{"email": "' + b"a" * 30 * 1024 * 1024 + b'"}',
                                headers={"Content-Type": "application/json"})
        refused = time.perf_counter() - started
    server.should_exit = True
    await task
    await svc.close()
    new, member = (statistics.median(times[k]) * 1000 for k in ("new", "member"))
    print(f"POST /subscribe, median of {requests}: new address {new:.1f} ms, subscribed address {member:.1f} ms, "
          f"ratio {new / member:.2f}")
    print(f"30 MB JSON body: {big.status_code} in {refused * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    asyncio.run(main(parser.parse_args().requests))
