"""Schemathesis against the OpenAPI schema of the public and API routes, over real HTTP to the app
served by uvicorn (issue 13): whatever it sends, no 500 and no answer that breaks the schema.
Bounded: a few dozen examples per operation, a couple of minutes on a loaded 2-core machine."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import response_schema_conformance

from mailer.core.settings import load_settings
from mailer.delivery.devmailbox import free_port
from mailer.delivery.service import Service
from mailer.web.app import create_app, server_config
from tests.conftest import API_TOKEN, SECRET

EXAMPLES = 40


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """The app and its schema, served in a thread with an event loop of its own (the fuzzer's
    client is synchronous), on a SQLite file with an article and a subscriber to aim at."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    config = load_settings(
        None, data_dir=tmp / "data", database_url=f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}", secret_key=SECRET,
        api_token=API_TOKEN, base_url="https://news.example.com", sender_address="newsletter@news.example.com",
        devmailbox_port=0, subscribe_ip_limits="100000/minute", share_ip_limits="100000/minute",
        login_ip_limits="100000/minute",
    )
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        svc = await Service(config).start()
        app = create_app(svc)
        state["schema"] = app.openapi()
        port = free_port()
        server = uvicorn.Server(server_config(app, host="127.0.0.1", port=port))
        state["server"], state["url"] = server, f"http://127.0.0.1:{port}"
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        ready.set()
        await task
        await svc.close()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(60), "the app did not start"
    yield state["url"], state["schema"]
    state["server"].should_exit = True
    thread.join(30)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_no_input_gets_a_server_error(served: tuple[str, dict[str, Any]]) -> None:
    url, raw = served
    loaded = schemathesis.openapi.from_dict(raw)
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 12  # every public and API route, none of the editor pages
    assert not [op for op in operations if op.path.startswith("/editor")]
    api = {"Authorization": f"Bearer {API_TOKEN}"}
    seen: dict[str, set[int]] = {}

    @given(case=st.one_of(*(op.as_strategy() for op in operations)))
    @settings(max_examples=EXAMPLES * len(operations), deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def fuzz(case: Any) -> None:
        response = case.call(base_url=url, headers=api if case.path.startswith("/api/") else {}, timeout=30)
        seen.setdefault(f"{case.method} {case.operation.path}", set()).add(response.status_code)
        assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:500])
        case.validate_response(response, checks=[response_schema_conformance])

    fuzz()
    assert set(seen) == {f"{op.method.upper()} {op.path}" for op in operations}  # every operation was called
    print(f"{sum(map(len, seen.values()))} (operation, status) pairs:", dict(sorted(seen.items())))
