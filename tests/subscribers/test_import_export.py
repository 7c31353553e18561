"""`mailer subscribers import/export/list/show/remove` through the real CLI on a real database."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from mailer.core.lists import default_lists
from mailer.core.models import OutboxMessage
from mailer.delivery import outbox
from mailer.delivery.service import Service
from subscribers import flows, importer, store, suppression
from subscribers.models import Subscriber
from subscribers.search import email_search_key, name_search_key
from tests.conftest import Clock
from tests.subscribers.helpers import status_of, subscriber_row
from tests.support import factories
from tests.support.cli import mailer

LISTS = default_lists("0 7 * * *", "0 7 * * 5")
ROWS = [
    "email,name,frequency,sections",                      # 1
    "good1@example.com,أحمد علي,daily,سياسة",              # 2
    '"good2@مثال.عراق","ليلى",weekly,',                    # 3
    "GOOD3+news@Example.COM,,أسبوعي,سياسة|اقتصاد",         # 4
    "good1@example.com,again,daily,",                     # 5 duplicate of 2
    "not-an-address,x,,",                                 # 6
    '"evil@example.com\r\nBcc: victim@example.org",x,,',  # 7-8 CRLF in the address
    'mallory@example.com,"Mal\r\nBcc: victim@example.org",,',  # 9-10 CRLF in the name
    'good4@example.com,"=HYPERLINK(""http://x.example"")",daily,',  # 11
    "user\u202e@example.com,,,",                          # 12 bidi override
    "a" * 65 + "@example.com,,,",                         # 13 local part too long
    "good5@example.com,,monthly,",                        # 14 unknown frequency
    "good6@example.com,,,رياضة",                          # 15 unknown section
]
GOOD = ["good1@example.com", "good2@مثال.عراق", "GOOD3+news@example.com", "good4@example.com"]
BAD_LINES = {5: "duplicate of line 2", 6: "email:", 7: "email:", 9: "name:", 12: "email:", 13: "email:",
             14: "frequency:", 15: "sections:"}


async def count(svc: Service, model: type, *where: object) -> int:
    async with svc.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_import_names_each_bad_line_and_imports_good_rows_once(
    service: Service, clock: Clock, cli_env: CliRunner, tmp_path: Path
) -> None:
    await factories.ingest_items(service, 1, clock.now, section="سياسة")
    await factories.ingest_items(service, 1, clock.now, section="اقتصاد", title="خبر اقتصادي")
    file = tmp_path / "list.csv"
    file.write_bytes(("\r\n".join(ROWS) + "\r\n").encode())

    code, out, err = await mailer(cli_env, "subscribers", "import", str(file))
    assert code == 1  # some rows were bad
    assert "importing" in err
    reported = {int(line.split(":")[0].removeprefix("line ")): line for line in err.splitlines()
                if line.startswith("line ")}
    assert sorted(reported) == sorted(BAD_LINES)
    for line, expected in BAD_LINES.items():
        assert expected in reported[line], reported[line]
    assert "4 added" in out
    assert await count(service, Subscriber) == 4
    for email in GOOD:
        assert await status_of(service, email) == "pending"
    third = await subscriber_row(service, "GOOD3+news@example.com")
    assert third is not None
    async with service.db.transaction() as session:
        assert (await store.lists_of(session, [third.id]))[third.id] == {"weekly"}
    assert (await subscriber_row(service, "good4@example.com")).name == '=HYPERLINK("http://x.example")'
    assert await count(service, OutboxMessage, OutboxMessage.kind == "confirm") == 4

    code, out, err = await mailer(cli_env, "subscribers", "import", str(file))
    assert code == 1 and "0 added, 4 already there" in out
    assert await count(service, Subscriber) == 4
    assert await count(service, OutboxMessage, OutboxMessage.kind == "confirm") == 4


async def test_confirmed_import_sends_nothing_and_never_re_adds_the_suppressed(
    service: Service, clock: Clock, cli_env: CliRunner, tmp_path: Path
) -> None:
    gone = await factories.subscriber(service, "gone@example.com")
    async with service.db.transaction() as session:
        await flows.unsubscribe(session, gone.id, clock.now)
        await flows.forget(session, "gone@example.com", erase=outbox.erase)
    file = tmp_path / "vouched.csv"
    file.write_text("\ufeffemail,name\nfriend@example.org,صديق\ngone@example.com,\n", encoding="utf-8")
    code, _, err = await mailer(cli_env, "subscribers", "import", "--confirmed", str(file))
    assert code == 0, err
    assert "line 3: email: on the suppression list (forget)" in err
    assert await status_of(service, "friend@example.org") == "confirmed"
    assert await status_of(service, "gone@example.com") is None
    assert await count(service, OutboxMessage) == 0


async def test_export_round_trips_and_defuses_formulas(
    service: Service, clock: Clock, cli_env: CliRunner, tmp_path: Path
) -> None:
    await factories.ingest_items(service, 1, clock.now, section="سياسة")
    await factories.subscriber(service, "one@example.com", name="=1+2")
    await factories.subscriber(service, "two@مثال.عراق", name="ليلى", lists=("weekly",))
    async with service.db.transaction() as session:
        names = await store.section_names(session)
        sub = await store.by_email(session, "two@مثال.عراق")
        await store.set_sections(session, sub.id, list(names))
    out_file = tmp_path / "export.csv"
    code, out, err = await mailer(cli_env, "subscribers", "export", str(out_file))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out_file.read_text(encoding="utf-8"))))
    assert [r["email"] for r in rows] == ["one@example.com", "two@مثال.عراق"]
    assert rows[0]["name"] == "'=1+2"
    assert rows[1]["name"] == "ليلى" and rows[1]["sections"] == "سياسة" and rows[1]["lists"] == "weekly"

    code, out, err = await mailer(cli_env, "subscribers", "import", str(out_file))
    assert code == 0 and "0 added, 2 already there, 0 suppressed, 0 bad rows" in out
    code, stdout, _ = await mailer(cli_env, "subscribers", "export", "--status", "confirmed")
    assert stdout.splitlines()[0] == ",".join(importer.EXPORT_COLUMNS) and len(stdout.splitlines()) == 3
    code, _, err = await mailer(cli_env, "subscribers", "export", "--status", "gone")
    assert code == 2 and "--status" in err


async def test_list_show_remove(service: Service, clock: Clock, cli_env: CliRunner) -> None:
    await factories.subscriber(service, "reader@example.org", name="قارئ")
    code, out, _ = await mailer(cli_env, "subscribers", "list")
    assert code == 0 and "reader@example.org" in out and "confirmed" in out
    code, out, _ = await mailer(cli_env, "subscribers", "show", "reader@example.org")
    assert code == 0 and "قارئ" in out and re.search(r"suppressed\s*│\s*no\s", out)
    code, out, _ = await mailer(cli_env, "subscribers", "remove", "reader@example.org")
    assert code == 0 and "unsubscribed" in out
    assert await status_of(service, "reader@example.org") == "unsubscribed"
    code, out, _ = await mailer(cli_env, "subscribers", "show", "reader@example.org")
    assert re.search(r"suppressed\s*│\s*unsubscribe\s", out)
    code, _, err = await mailer(cli_env, "subscribers", "remove", "nobody@example.org")
    assert code == 1 and "no subscriber" in err


def test_parse_reads_multiline_records_by_their_first_line() -> None:
    data = b'email,name\r\n"a@example.com","line one\r\nline two"\r\nb@example.com,\r\n'
    parsed = importer.parse(data, sections={}, lists=LISTS)
    assert [r.address.normalized for r in parsed.rows] == ["b@example.com"]
    assert [(p.line, p.message.split(":")[0]) for p in parsed.problems] == [(2, "name")]


def test_parse_refuses_a_file_without_an_email_column_and_bad_utf8() -> None:
    assert [str(p) for p in importer.parse(b"name\nx\n", sections={}, lists=LISTS).problems] == [
        "line 1: header: no 'email' column (the first line names the columns)"
    ]
    parsed = importer.parse(b"email,name\nok@example.com,\xff\xfe\n", sections={}, lists=LISTS)
    assert parsed.rows == [] and parsed.problems[0].line == 2 and "UTF-8" in parsed.problems[0].message


def test_utf16_files_are_read_or_named_for_what_they_are() -> None:
    """Excel's "Unicode" exports are UTF-16: with a byte-order mark they are read; without one the
    problem says so, instead of "no 'email' column" (issue 13, point 15)."""
    text = "email,name\r\nsara@example.org,سارة\r\n"
    for encoding in ("utf-16", "utf-16-le", "utf-16-be"):
        data = text.encode(encoding)
        if encoding != "utf-16":
            data = ("\ufeff" + text).encode(encoding)  # a BOM of that byte order
        parsed = importer.parse(data, sections={}, lists=LISTS)
        assert [(r.address.normalized, r.name) for r in parsed.rows] == [("sara@example.org", "سارة")], encoding
    for encoding in ("utf-16-le", "utf-16-be"):
        [problem] = importer.parse(text.encode(encoding), sections={}, lists=LISTS).problems
        assert "UTF-16" in problem.message and "CSV UTF-8" in problem.message


async def test_a_confirmed_import_stores_each_row_as_the_model_would(service: Service, clock: Clock) -> None:
    """The bulk path (COPY / executemany, no ORM object) writes what ``store.add`` writes: the
    mailbox key, a link key, the times in the database's own form, lists and sections."""
    await factories.ingest_items(service, 1, clock.now, section="سياسة")
    existing = await factories.subscriber(service, "kept@example.com")
    async with service.db.transaction() as session:
        sections = {name: id_ for id_, name in (await store.section_names(session)).items()}
    data = ("email,name,lists,sections\r\nOne.Reader@Example.COM,أحمد علي,daily|weekly,سياسة\r\n"
            "two@مثال.عراق,,weekly,\r\nKEPT@example.com,x,daily,\r\n").encode()
    parsed = importer.parse(data, lists=LISTS, sections=sections)
    assert not parsed.problems

    async def no_mail(_session: object, _notice: object) -> None:
        raise AssertionError("a confirmed import sends nothing")

    async with service.db.transaction() as session:
        applied = await importer.apply(session, service.settings, parsed.rows, now=clock.now, confirmed=True,
                                       notify=no_mail)
    assert (applied.added, applied.existing) == (2, 1)
    async with service.db.transaction() as session:
        one = await store.by_email(session, "one.reader@example.com")  # found without regard to case
        two = await store.by_email(session, "two@xn--mgbh0fb.xn--mgbtx2b")
        assert one is not None and two is not None
        assert (one.email, one.email_ascii, one.email_key) == (
            "One.Reader@example.com", "One.Reader@example.com", "one.reader@example.com")
        assert (two.email, two.email_ascii) == ("two@مثال.عراق", "two@xn--mgbh0fb.xn--mgbtx2b")
        assert one.name == "أحمد علي" and two.name is None
        assert one.status == two.status == "confirmed" and one.source == "import-confirmed"
        assert one.created_at == one.updated_at == one.confirmed_at == clock.now
        assert one.link_key and two.link_key and one.link_key != two.link_key
        assert (one.bounce_score, one.no_shares) == (0, False)
        # the console's search keys, as the model's validators make them
        assert (one.search_email, one.search_name) == (email_search_key(one.email), name_search_key(one.name))
        assert (two.search_email, two.search_name) == (email_search_key(two.email), None)
        # the times compare in SQL with those written by the ORM (SQLite keeps them as text)
        same_time = select(func.count()).select_from(Subscriber).where(Subscriber.created_at == clock.now)
        assert await session.scalar(same_time) == 3
        lists = await store.lists_of(session, [one.id, two.id, existing.id])
        assert lists == {one.id: {"daily", "weekly"}, two.id: {"weekly"}, existing.id: lists[existing.id]}
        chosen = await store.sections_of(session, [one.id, two.id])
        assert chosen == {one.id: {sections["سياسة"]}}


async def test_look_ups_of_thousands_of_keys_are_one_parameter_and_exact(service: Service, clock: Clock) -> None:
    """``existing_keys`` and ``suppression.reasons`` with a whole import chunk: past SQLite's
    old limit of 999 parameters, every key found, nothing else."""
    rows = [{"email": f"r{i}@example.org", "status": "confirmed", "created_at": clock.now, "updated_at": clock.now,
             "confirmed_at": clock.now, "bounce_score": 0, "no_shares": False} for i in range(0, 6000, 2)]
    async with service.db.transaction() as session:
        ids = await store.insert_many(session, rows, [("daily",)] * len(rows), [()] * len(rows))
        await suppression.suppress(session, "R3@example.org", "hard_bounce")
    assert len(set(ids)) == 3000
    wanted = [f"r{i}@example.org" for i in range(6000)]
    async with service.db.transaction() as session:
        assert await store.existing_keys(session, wanted) == {f"r{i}@example.org" for i in range(0, 6000, 2)}
        assert await suppression.reasons(session, wanted) == {"r3@example.org": "hard_bounce"}
        assert (await store.lists_of(session, ids[:2])) == {ids[0]: {"daily"}, ids[1]: {"daily"}}


async def test_export_is_the_bytes_of_each_subscriber_as_the_model_reads_them(
    service: Service, clock: Clock, cli_env: CliRunner, tmp_path: Path
) -> None:
    """The CLI's export (plain rows, pages, cached joins) writes what the plain ORM reading of
    each subscriber gives, byte for byte: formula guards, quoting, Arabic, several lists and
    sections, times with and without microseconds, no confirmation time, a page boundary."""
    await factories.ingest_items(service, 1, clock.now, section="سياسة")
    await factories.ingest_items(service, 1, clock.now, section="اقتصاد", title="خبر اقتصادي")
    people = [("plain@example.com", None, "confirmed", ("daily",)), ("-dash@example.com", "=1+2", "pending", ()),
              ("two@مثال.عراق", 'ليلى "الصغيرة", من بغداد', "confirmed", ("weekly", "daily")),
              ("+plus@example.com", "@handle", "unsubscribed", ("weekly",))]
    for i, (email, name, status, lists) in enumerate(people * 3):
        clock.now = clock.now.replace(microsecond=0 if i % 2 else 123456)
        sub = await factories.subscriber(service, email.replace("@", f"{i}@", 1), name=name, status=status,
                                         lists=lists)
        if i % 3 == 0:
            async with service.db.transaction() as session:
                await store.set_sections(session, sub.id, list(await store.section_names(session)))
    async with service.db.transaction() as session:
        names = await store.section_names(session)
        subs = await store.page(session, limit=100)
        taken = await store.lists_of(session, [s.id for s in subs])
        chosen = await store.sections_of(session, [s.id for s in subs])
    expected = io.StringIO(newline="")
    writer = csv.writer(expected, lineterminator="\r\n")
    writer.writerow(importer.EXPORT_COLUMNS)
    for s in subs:
        cells = [s.email, s.name or "", s.status, "|".join(sorted(taken.get(s.id, ()))),
                 "|".join(sorted(names[i] for i in chosen.get(s.id, ()))), s.source or "", s.created_at.isoformat(),
                 s.confirmed_at.isoformat() if s.confirmed_at else ""]
        writer.writerow([importer.escape_cell(c) for c in cells])
    out_file = tmp_path / "export.csv"
    code, _, err = await mailer(cli_env, "subscribers", "export", str(out_file))
    assert code == 0, err
    assert len(subs) == 12 and out_file.read_bytes() == expected.getvalue().encode()
    async with service.db.transaction() as session:  # pages of 5: the boundaries fall inside the set
        pages: list[list[str]] = []
        await importer.export(session, pages.extend, page=5)
    assert pages == list(csv.reader(io.StringIO(expected.getvalue(), newline="")))[1:]


async def test_an_import_read_in_chunks_names_the_first_line_of_a_mailbox_across_chunks(
    service: Service, clock: Clock, cli_env: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two rows a chunk: a mailbox seen again in a later chunk (new, already a subscriber, or
    suppressed the first time) or in the same chunk is a duplicate of its first line, exactly as
    when the whole file was parsed at once."""
    from mailer.cli import subscribers as command

    monkeypatch.setattr(command, "IMPORT_CHUNK", 2)
    await factories.subscriber(service, "b@example.com")
    async with service.db.transaction() as session:
        await suppression.suppress(session, "gone@example.com", "complaint")
    lines = ["email", "a@example.com", "b@example.com", "gone@example.com", "not-an-address",
             "A@Example.com", "b@example.com", "gone@example.com", "c@example.com", "c@example.com"]
    file = tmp_path / "chunks.csv"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert [str(p) for p in importer.parse(file.read_bytes(), lists=LISTS, sections={}).problems] == [
        "line 5: email: An email address must have an @-sign.",
        "line 6: email: duplicate of line 2", "line 7: email: duplicate of line 3",
        "line 8: email: duplicate of line 4", "line 10: email: duplicate of line 9"]

    code, out, err = await mailer(cli_env, "subscribers", "import", "--confirmed", str(file))
    assert code == 1
    assert "2 added, 1 already there, 1 suppressed, 5 bad rows" in out
    reported = [line for line in err.splitlines() if line.startswith("line ")]
    assert reported == [
        "line 4: email: on the suppression list (complaint)",
        "line 5: email: An email address must have an @-sign.",
        "line 6: email: duplicate of line 2", "line 7: email: duplicate of line 3",
        "line 8: email: duplicate of line 4", "line 10: email: duplicate of line 9"]
    assert await status_of(service, "c@example.com") == "confirmed"
    code, out, _ = await mailer(cli_env, "subscribers", "import", "--confirmed", str(file))
    assert "0 added, 3 already there, 1 suppressed, 5 bad rows" in out  # the temporary table went with the import


def test_a_file_of_bad_rows_is_read_in_chunks_of_records_not_of_good_rows() -> None:
    """A chunk ends after ``size`` records, good or bad: a million rows with a misspelt section
    were one chunk of a million problems (784 MB), read in the memory of a chunk now."""
    data = ("email\n" + "not-an-address\n" * 25 + "ok@example.com\n").encode()
    chunks = list(importer.stream(io.BytesIO(data), lists=LISTS, sections={}, size=10))
    assert [(len(c.rows), len(c.problems)) for c in chunks] == [(0, 10), (0, 10), (1, 5)]
    assert [p.line for c in chunks for p in c.problems] == list(range(2, 27))


async def test_an_import_shows_the_first_problems_and_writes_every_one_with_problems(
    service: Service, clock: Clock, cli_env: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The terminal shows the first 20 bad rows and the count by column, not a line for each of
    a million; ``--problems`` writes every one to a CSV file, in the file's order."""
    from mailer.cli import subscribers as command

    monkeypatch.setattr(command, "IMPORT_CHUNK", 7)
    await factories.ingest_items(service, 1, clock.now, section="سياسة")
    lines = ["email,name,lists,sections"]
    for i in range(40):
        if i % 8 == 3:
            lines.append(f"bad{i}-at-example.com,,daily,")
        elif i % 13 == 0:
            lines.append(f"good{i}@example.com,,daily,سياسة")
        else:
            lines.append(f"r{i}@example.com,,daily,رياضة")
    file = tmp_path / "list.csv"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = {n + 2: ("email" if i % 8 == 3 else "sections") for n, i in enumerate(range(40)) if i % 8 == 3 or i % 13}
    assert len(bad) == 36

    problems = tmp_path / "problems.csv"
    code, out, err = await mailer(cli_env, "subscribers", "import", "--confirmed", "--problems", str(problems),
                                  str(file))
    assert code == 1
    assert "4 added, 0 already there, 0 suppressed, 36 bad rows" in out
    shown = [int(line.split(":")[0].removeprefix("line ")) for line in err.splitlines() if line.startswith("line ")]
    assert shown == sorted(bad)[:20]
    assert f"... and 16 more (36 in all, by column: sections 31, email 5); every one is in {problems}" in err
    rows = list(csv.reader(io.StringIO(problems.read_text(encoding="utf-8"))))
    assert rows[0] == ["line", "column", "problem"]
    assert [(int(n), column) for n, column, _ in rows[1:]] == sorted(bad.items())
    assert all(problem.startswith(column + ":") for _, column, problem in rows[1:])

    code, _, err = await mailer(cli_env, "subscribers", "import", str(file))
    assert "--problems FILE writes every one" in err
    code, _, err = await mailer(cli_env, "subscribers", "import", "--problems", str(tmp_path / "no" / "p.csv"),
                                str(file))
    assert code == 2 and "--problems: cannot write" in err


async def test_an_unconfirmed_import_chunk_looks_up_once_and_writes_in_bulk(
    service: Service, clock: Clock
) -> None:
    """A chunk's confirmation mails are composed and queued together, its rows written in bulk:
    its statements do not grow with its rows. Each notice used to look up the site's home page
    on its own (which flushed the previous notice's outbox row), and the subscribers, links and
    mails were ORM objects, which SQLite inserts one statement a row: four statements a row."""
    from sqlalchemy import event

    from mailer.delivery.notifier import Notifier

    notifier = Notifier(service.settings, service.renderer)
    statements = 0

    def counted(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(service.db.engine.sync_engine, "before_cursor_execute", counted)
    try:
        taken = []
        for rows in (20, 400):
            data = "email\n" + "".join(f"r{rows}-{i}@example.org\n" for i in range(rows))
            parsed = importer.parse(data.encode(), lists=LISTS, sections={})
            statements = 0
            async with service.db.transaction() as session:
                applied = await importer.apply(session, service.settings, parsed.rows, now=clock.now,
                                               confirmed=False, notify=notifier)
            assert applied.added == rows
            taken.append(statements)
    finally:
        event.remove(service.db.engine.sync_engine, "before_cursor_execute", counted)
    assert taken[1] <= taken[0], taken  # the first also notes the installation, once a process
    assert await count(service, OutboxMessage, OutboxMessage.kind == "confirm") == 420
