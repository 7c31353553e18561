"""The `mailer` command, run as a real process the way an operator runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import factories

pytestmark = pytest.mark.slow  # each test starts real `mailer` processes


def mailer(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_") or k.startswith("MAILER_TEST_")}
    environment.update({"MAILER_DEVMAILBOX_PORT": "0", "MAILER_LOG_LEVEL": "WARNING", "COLUMNS": "200"})
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mailer.cli.main", *args], cwd=tmp_path, env=environment,
        capture_output=True, text=True, timeout=120,
    )


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in ([], ["serve"], ["demo"], ["db", "upgrade"], ["ingest"], ["digest", "send"],
                    ["editions"], ["mailbox", "list"], ["mailbox", "show"], ["settings"]):
        result = mailer(tmp_path, *command, "--help")
        assert result.returncode == 0, (command, result.stderr)
        assert "Usage" in result.stdout


def test_demo_puts_a_digest_and_a_breaking_alert_in_the_development_mailbox(tmp_path: Path) -> None:
    result = mailer(tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    assert "2 message(s)" in result.stdout
    assert (tmp_path / "mailer.db").exists()  # the embedded default: SQLite in the working directory
    listing = mailer(tmp_path, "mailbox", "list")
    assert listing.stdout.count("reader@example.com") == 2
    assert "عاجل: تنسيق سوري- عراقي" in listing.stdout  # the breaking-news alert
    shown = mailer(tmp_path, "mailbox", "show", "1", "--html", "digest.html")
    assert "تنسيق سوري- عراقي" in shown.stdout
    assert '<html dir="rtl" lang="ar">' in (tmp_path / "digest.html").read_text(encoding="utf-8")
    # --raw is the message as the relay got it, not refolded by the email package
    raw = mailer(tmp_path, "mailbox", "show", "1", "--raw")
    stored = [f.read_text(encoding="ascii") for f in (tmp_path / "mailer-data/devmailbox/new").iterdir()]
    assert raw.stdout in stored
    feedback = sorted(line for message in stored for line in message.splitlines() if line.startswith("Feedback-ID:"))
    assert feedback == ["Feedback-ID: breaking:alert:example.com", "Feedback-ID: daily:digest:example.com"]
    again = mailer(tmp_path, "demo")  # within the minute: the same edition, and the alert went out once
    assert again.returncode == 0 and "2 message(s)" in again.stdout


def test_ingest_then_send_now_with_progress(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    feed = tmp_path / "feed.xml"
    feed.write_bytes(factories.rss(factories.item(n, datetime.now(UTC)) for n in range(1, 4)))
    first = mailer(tmp_path, "ingest", str(feed))
    again = mailer(tmp_path, "ingest", str(feed))
    assert first.returncode == 0 and "3 new, 0 updated, 0 unchanged" in first.stdout
    assert "0 new, 0 updated, 3 unchanged" in again.stdout
    # no subscribers yet: the edition is made, nobody gets it
    sent = mailer(tmp_path, "digest", "send", "--now")
    assert sent.returncode == 0, sent.stderr
    assert "being sent to 0 subscribers" in sent.stdout
    editions = mailer(tmp_path, "editions")
    assert "daily" in editions.stdout


def test_bad_input_gets_a_clear_error(tmp_path: Path) -> None:
    missing = mailer(tmp_path, "ingest", "no-such-feed.xml")
    assert missing.returncode == 1
    assert "source: 'no-such-feed.xml' is neither an http(s) URL nor a readable file" in missing.stderr
    bad_setting = mailer(tmp_path, "settings", env={"MAILER_SMTP_URL": "smtp://relay:abc"})
    assert bad_setting.returncode == 2
    assert "MAILER_SMTP_URL: port 'abc' is not an integer" in bad_setting.stderr
    bad_list = mailer(tmp_path, "digest", "send", "--now", "--list", "monthly")
    assert bad_list.returncode == 2 and "--list: 'monthly'" in bad_list.stderr
    no_such = mailer(tmp_path, "mailbox", "show", "3")
    assert no_such.returncode == 2 and "NUMBER: there are 0 messages" in no_such.stderr


@pytest.mark.parametrize("secret", ["MAILER_SECRET_KEY", "MAILER_SECRET_KEY_PREVIOUS", "MAILER_API_TOKEN"])
def test_settings_hides_secrets(tmp_path: Path, secret: str) -> None:
    shown = mailer(tmp_path, "settings", env={secret: "s" * 40})
    assert shown.returncode == 0 and "s" * 40 not in shown.stdout and "********" in shown.stdout


@pytest.mark.timeout(180)
def test_serve_demo_shows_three_lists_and_one_breaking_alert(tmp_path: Path) -> None:
    """The README's first command, as a newcomer runs it: the web app offers three lists, and the
    development mailbox holds the demo digest and one breaking-news alert."""
    import time
    import urllib.request

    from mailer.delivery.devmailbox import free_port

    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_") or k.startswith("MAILER_TEST_")}
    environment.update({"MAILER_DEVMAILBOX_PORT": "0", "MAILER_WEB_PORT": str(port), "MAILER_LOG_LEVEL": "WARNING"})
    proc = subprocess.Popen([sys.executable, "-m", "mailer.cli.main", "serve", "--demo"], cwd=tmp_path,
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        page = ""
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/subscribe", timeout=2) as reply:
                    page = reply.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert re.findall(r'name="lists" value="(\w+)"', page) == ["daily", "weekly", "breaking"]
        assert "الأخبار العاجلة" in page
        for _ in range(300):
            listing = mailer(tmp_path, "mailbox", "list")
            if listing.stdout.count("reader@example.com") >= 2:
                break
            time.sleep(0.2)
        assert "عاجل: " in listing.stdout and listing.stdout.count("reader@example.com") == 2
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
