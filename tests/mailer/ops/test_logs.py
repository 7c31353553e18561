"""Structured logs: ``MAILER_LOG_FORMAT=json`` gives one JSON object a line, a line per batch and
per edition state change, and never a password, from a real worker process and in-process."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from mailer.core import logs
from mailer.core.settings import Settings
from mailer.delivery.service import Service
from tests.conftest import SECRET
from tests.support import factories
from tests.support.smtpd import SMTPServer
from tests.support.workers import Worker

RELAY_PASSWORD = "pa55-w0rd-of-the-relay"


def _authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == RELAY_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def auth_relay() -> Iterator[SMTPServer]:
    with SMTPServer(authenticator=_authenticate, auth_require_tls=False) as server:
        yield server


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_the_extra_fields_and_mask_secrets(
    make_settings: Callable[..., Settings], restore_logging: None
) -> None:
    settings = make_settings(log_format="json", smtp_url=f"smtp+starttls://relay:{RELAY_PASSWORD}@mx.example.com")
    stream = io.StringIO()
    logs.configure(settings, stream=stream)
    log = logging.getLogger("mailer.test")
    log.info("batch of %d rows", 3, extra={"event": "batch", "outcomes": {"sent": 2, "retry": 1},
                                           "color_message": "batch of \x1b[36m%d\x1b[0m rows"})
    log.warning("relay %s refused us", settings.smtp_url)
    log.error("key %s leaked into a message", SECRET)
    try:
        raise RuntimeError(f"connect to smtp://relay:{RELAY_PASSWORD}@mx.example.com failed")
    except RuntimeError:
        log.exception("sending failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["INFO", "WARNING", "ERROR", "ERROR"]
    assert lines[0]["event"] == "batch" and lines[0]["outcomes"] == {"sent": 2, "retry": 1}
    assert lines[0]["message"] == "batch of 3 rows" and lines[0]["logger"] == "mailer.test" and lines[0]["time"]
    assert "color_message" not in lines[0]  # uvicorn's coloured copy of the message stays out
    text = stream.getvalue()
    assert RELAY_PASSWORD not in text and SECRET not in text
    assert "smtp+starttls://relay:***@mx.example.com" in lines[1]["message"]
    assert "RuntimeError" in lines[3]["exc_info"]


def test_text_logs_mask_secrets_too(make_settings: Callable[..., Settings], restore_logging: None) -> None:
    settings = make_settings(smtp_url=f"smtp://relay:{RELAY_PASSWORD}@mx.example.com")
    stream = io.StringIO()
    logs.configure(settings, stream=stream)
    logging.getLogger("mailer.test").warning("relay %s, key %s", settings.smtp_url, SECRET)
    assert RELAY_PASSWORD not in stream.getvalue() and SECRET not in stream.getvalue()
    assert "relay:***@" in stream.getvalue()


@pytest.mark.slow
async def test_a_worker_logs_a_json_line_per_batch_and_per_edition(
    make_settings: Callable[..., Settings], database_url: str, auth_relay: SMTPServer, tmp_path: Path
) -> None:
    settings = make_settings(database_url=database_url, send_batch_size=2,
                             smtp_url=f"smtp://relay:{RELAY_PASSWORD}@127.0.0.1:{auth_relay.port}")
    svc = await Service(settings).start()
    try:
        await factories.ingest_items(svc, 2, svc.clock())
        for n in range(5):
            await factories.subscriber(svc, f"reader{n}@example.org")
        edition_id = (await svc.run_list("daily", svc.clock())).edition.id
    finally:
        await svc.close()
    worker = Worker(settings, "json-worker", tmp_path / "worker.log", env={"MAILER_LOG_FORMAT": "json"})
    try:
        await worker.started()
        await asyncio.to_thread(auth_relay.wait_for, 5, 60)
        for _ in range(100):
            if f'"edition_id": {edition_id}' in worker.output():
                break
            await asyncio.sleep(0.1)
    finally:
        assert worker.stop() == 0
    output = worker.output()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # every line is JSON
    batches = [line for line in lines if line.get("event") == "batch"]
    assert sum(b["rows"] for b in batches) == 5 and len(batches) == 3  # batches of 2, 2 and 1
    assert all(b["worker"].startswith("json-worker@") and "seconds" in b for b in batches)  # NAME@host:pid
    assert sum(b["outcomes"].get("sent", 0) for b in batches) == 5
    assert any(line.get("event") == "edition" and line.get("edition_id") == edition_id
               and line.get("status") == "sent" for line in lines)
    assert RELAY_PASSWORD not in output
