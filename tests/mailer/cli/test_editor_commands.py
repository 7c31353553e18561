"""``mailer editors`` and ``mailer preview`` as an editor types them, on a real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from typer.testing import CliRunner, Result

from mailer.cli.main import app
from mailer.delivery.service import Service
from mailer.editor import accounts
from tests.conftest import API_TOKEN, SECRET, Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

BEFORE = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def config(tmp_path: Path, service: Service) -> Path:
    s = service.settings
    path = tmp_path / "mailer.toml"
    path.write_text(
        f'database_url = "{s.database_url}"\ndata_dir = "{s.data_dir}"\nsecret_key = "{SECRET}"\n'
        f'api_token = "{API_TOKEN}"\nbase_url = "{s.base_url}"\nsender_address = "{s.sender_address}"\n'
        f'smtp_url = "{s.smtp_url}"\nlog_level = "WARNING"\n'
    )
    return path


async def mailer(cfg: Path, *args: str, stdin: str | None = None) -> Result:
    """The command in a thread: it runs its own event loop, as it does in a shell."""
    return await asyncio.to_thread(CliRunner().invoke, app, ["--config", str(cfg), *args], input=stdin)


async def test_editors_add_list_passwd(service: Service, tmp_path: Path) -> None:
    cfg = config(tmp_path, service)
    added = await mailer(cfg, "editors", "add", "sara", "--email", "sara@news.example.com", "--password-stdin",
                         stdin="correct horse battery\n")
    assert added.exit_code == 0, added.output
    again = await mailer(cfg, "editors", "add", "Sara", "--email", "x@example.com", "--password-stdin",
                         stdin="correct horse battery\n")
    assert again.exit_code == 1 and "already exists" in again.output
    short = await mailer(cfg, "editors", "add", "omar", "--email", "o@example.com", "--password-stdin", stdin="short\n")
    assert short.exit_code == 2 and "password" in short.output
    listed = await mailer(cfg, "editors", "list")
    assert "sara" in listed.output and "sara@news.example.com" in listed.output and "omar" not in listed.output

    async with service.db.transaction() as session:
        sara = await accounts.authenticate(session, "sara", "correct horse battery")
        token = await accounts.start_session(session, sara, service.clock(), timedelta(hours=1))
    changed = await mailer(cfg, "editors", "passwd", "sara", "--password-stdin", stdin="another long passphrase\n")
    assert changed.exit_code == 0, changed.output
    async with service.db.transaction() as session:
        assert await accounts.signed_in(session, token, service.clock()) is None
    missing = await mailer(cfg, "editors", "passwd", "nobody", "--password-stdin", stdin="another long passphrase\n")
    assert missing.exit_code == 1 and "nobody" in missing.output


async def test_preview_writes_the_html_and_the_eml(
    service: Service, clock: Clock, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    clock.now = BEFORE  # the CLI runs on the real clock: the next edition is later than these articles
    await factories.ingest_items(service, 3, datetime.now(UTC))
    cfg = config(tmp_path, service)
    out, eml = tmp_path / "digest.html", tmp_path / "digest.eml"
    result = await mailer(cfg, "preview", "digest", "--out", str(out), "--eml", str(eml))
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert '<html dir="rtl" lang="ar">' in html and "عنوان الخبر رقم 1 عن العراق" in html
    msg = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and "النشرة اليومية" in str(msg["Subject"])
    assert msg.get_body(("html",)).get_content().replace("\r\n", "\n") == html
    for shown in ("عنوان الخبر رقم 3 عن العراق", "size", "unsubscribe", "spam", "SpamAssassin"):
        assert shown in result.output, shown

    share_html, share_eml = tmp_path / "share.html", tmp_path / "share.eml"
    share = await mailer(cfg, "preview", "share", "1", "--no-spam", "--out", str(share_html), "--eml", str(share_eml))
    assert share.exit_code == 0, share.output
    assert "عنوان الخبر رقم 1 عن العراق" in share_html.read_text(encoding="utf-8")
    shared = message_from_bytes(share_eml.read_bytes(), policy=policy.default)
    assert shared["From"].addresses[0].addr_spec == "newsletter@news.example.com"
    assert "https://news.example.com/news/1" in shared.get_body(("plain",)).get_content()
    missing = await mailer(cfg, "preview", "share", "999", "--no-spam")
    assert missing.exit_code == 1 and "no article" in missing.output
    for kind in ("confirm", "welcome"):
        notice = await mailer(cfg, "preview", kind, "daily", "--no-spam")
        assert notice.exit_code == 0 and "النشرة اليومية" in notice.output, notice.output


async def test_preview_of_a_sent_edition(service: Service, clock: Clock, smtp_server: SMTPServer, tmp_path: Path) -> None:
    await factories.ingest_items(service, 2, clock.now)
    await factories.subscriber(service, "reader@example.org")
    result = await service.run_list("daily", clock.now)
    await service.sender.drain()
    cfg = config(tmp_path, service)
    shown = await mailer(cfg, "preview", "edition", str(result.edition.id), "--no-spam")
    assert shown.exit_code == 0, shown.output
    assert "status: sent" in shown.output and "عنوان الخبر رقم 2 عن العراق" in shown.output
    bad = await mailer(cfg, "preview", "edition", "abc", "--no-spam")
    assert bad.exit_code == 1 and "ref" in bad.output
