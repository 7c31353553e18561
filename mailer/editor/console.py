"""The console's people side, apart from HTTP: a subscriber's file (status, choices, suppression,
messages, bounces), CSV imports run as background jobs with their progress and per-line problems
in Arabic, the CSV export in chunks, and the settings as an admin may see them (secrets hidden)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select, update

from mailer.core.db import Database
from mailer.core.errors import InvalidInput, NotFound
from mailer.core.models import BounceEvent, Edition, OutboxMessage
from mailer.core.offload import off_loop
from mailer.core.settings import URL_FIELDS, Settings, env_name
from mailer.core.urls import redact_url
from subscribers import audit, flows, importer, store, suppression
from subscribers.models import AuditEntry, ImportJob, Subscriber

log = logging.getLogger(__name__)
HIDDEN = "••••"
IMPORT_MAX_BYTES = 20 * 1024 * 1024
CHUNK = 500
STATUS_LABELS = {
    "pending": "بانتظار التأكيد", "confirmed": "مشترك", "paused": "متوقف مؤقتاً",
    "unsubscribed": "ألغى اشتراكه", "bounced": "يرتد بريده", "forgotten": "محوّ",
}
SUPPRESSION_LABELS = {
    "unsubscribe": "ألغى اشتراكه", "operator": "حظره محرر", "hard_bounce": "ارتداد دائم",
    "complaint": "شكوى بريد مزعج", "forget": "طلب محو بياناته",
}
MESSAGE_KINDS = {"digest": "نشرة", "alert": "خبر عاجل", "confirm": "تأكيد الاشتراك", "welcome": "ترحيب",
                 "confirm_address": "تأكيد العنوان الجديد", "share": "مشاركة خبر", "test": "رسالة تجربة"}
MESSAGE_STATUS = {"pending": "في الطابور", "sending": "يُرسل", "sent": "أُرسلت", "failed": "فشلت",
                  "unknown": "مجهولة المصير", "skipped": "لم تُرسل", "dead": "فشلت نهائياً"}
BOUNCE_KINDS = {"hard": "ارتداد دائم", "soft": "ارتداد مؤقت", "complaint": "شكوى", "refused": "رفض"}
SOURCES = {"form": "نموذج الاشتراك", "import": "استيراد", "import-confirmed": "استيراد مؤكَّد",
           "operator": "أضافه محرر"}
BOUNCE_SOURCES = {"smtp": "رد خادم البريد", "dsn": "رسالة ارتداد", "arf": "تقرير شكوى"}
JOB_STATUS = {"queued": "في الانتظار", "running": "جارٍ", "done": "انتهى", "failed": "توقف بخطأ"}
# the import's fields, as the report names them
FIELDS = {"email": "البريد الإلكتروني", "name": "الاسم", "lists": "النشرات", "frequency": "النشرات",
          "sections": "الأقسام", "encoding": "ترميز الملف", "header": "سطر العناوين", "csv": "صيغة CSV",
          "file": "الملف"}


# the subscriber's file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriberFile:
    sub: Subscriber
    lists: list[str]
    sections: list[str]
    suppressed: str | None  # the reason, if the address is on the suppression list
    messages: list[dict[str, Any]]
    bounces: list[dict[str, Any]]
    entries: list[AuditEntry]


async def subscriber_file(db: Database, settings: Settings, subscriber_id: int) -> SubscriberFile:
    async with db.transaction() as session:
        sub = await session.get(Subscriber, subscriber_id)
        if sub is None:
            raise NotFound(f"no subscriber with id {subscriber_id}", public_message="لا يوجد مشترك بهذا الرقم.")
        lists = sorted((await store.lists_of(session, [sub.id])).get(sub.id, ()))
        names = await store.section_names(session)
        chosen = (await store.sections_of(session, [sub.id])).get(sub.id, frozenset())
        reason = await suppression.reason_for(session, sub.email)
        rows = (await session.execute(
            select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.status, OutboxMessage.created_at,
                   OutboxMessage.sent_at, OutboxMessage.last_code, Edition.list_name, Edition.period_key)
            .outerjoin(Edition, Edition.id == OutboxMessage.edition_id)
            .where(OutboxMessage.subscriber_id == sub.id).order_by(OutboxMessage.id.desc()).limit(50)
        )).all()
        bounces = (await session.execute(
            select(BounceEvent.kind, BounceEvent.source, BounceEvent.detail, BounceEvent.created_at)
            .where(BounceEvent.subscriber_id == sub.id).order_by(BounceEvent.id.desc()).limit(50)
        )).all()
        entries = await audit.entries(session, subscriber_id=sub.id, limit=50)
    messages = [{"id": r.id, "kind": MESSAGE_KINDS.get(r.kind, r.kind), "status": r.status,
                 "status_label": MESSAGE_STATUS.get(r.status, r.status), "at": r.sent_at or r.created_at,
                 "code": r.last_code or "",
                 "list": settings.lists[r.list_name].name if r.list_name in settings.lists else (r.list_name or "")}
                for r in rows]
    shown = [{"kind": BOUNCE_KINDS.get(b.kind, b.kind), "source": BOUNCE_SOURCES.get(b.source, b.source),
              "detail": b.detail[:200], "at": b.created_at} for b in bounces]
    list_names = [settings.lists[k].name if k in settings.lists else k for k in lists]
    return SubscriberFile(sub, list_names, sorted(names.get(i, str(i)) for i in chosen), reason, messages, shown,
                          entries)


def status_change(before: str, after: str) -> str:
    """For the audit log: "الحالة: مشترك ← ألغى اشتراكه"."""
    return f"الحالة: {STATUS_LABELS.get(before, before)} ← {STATUS_LABELS.get(after, after)}"


# settings -----------------------------------------------------------------------------------------


def _shown(name: str, value: Any) -> tuple[str, bool]:
    """A setting's value as text, and whether something in it was hidden."""
    if isinstance(value, SecretStr):
        return HIDDEN, True
    if isinstance(value, tuple | list) and any(isinstance(v, SecretStr) for v in value):
        return ", ".join(HIDDEN for _ in value) or "—", True
    if isinstance(value, str) and (name in URL_FIELDS or "://" in value):
        shown = redact_url(value).replace(":***@", f":{HIDDEN}@")
        return shown, shown != value
    if value is None:
        return "—", False
    if isinstance(value, dict):
        return ", ".join(str(k) for k in value) or "—", False
    if isinstance(value, tuple | list | frozenset | set):
        return ", ".join(str(v) for v in value) or "—", False
    return str(value), False


def setting_rows(settings: Settings) -> list[dict[str, Any]]:
    """Every effective setting with the variable that sets it; passwords and keys never shown."""
    rows = []
    for name in sorted(type(settings).model_fields):
        text, hidden = _shown(name, getattr(settings, name))
        rows.append({"name": env_name(name), "value": text, "hidden": hidden})
    return rows


# import -------------------------------------------------------------------------------------------


def problem_row(problem: importer.Problem) -> dict[str, Any]:
    """A problem of the import report: its line, the field in Arabic and an Arabic message."""
    return {"line": problem.line, "field": FIELDS.get(problem.column, problem.column),
            "message": problem.public or problem.message}


SHOWN_PROBLEMS = 100  # rows of an import's report on its page; every one is in its CSV


def problems_csv(problems: str) -> bytes:
    """An import's report (its ``problems`` JSON) as a CSV for a spreadsheet: UTF-8 with a BOM,
    Arabic headers, and the formula guard of the export (a message quotes the file's cells)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["السطر", "الحقل", "السبب"])
    writer.writerows([row["line"], importer.escape_cell(row["field"]), importer.escape_cell(row["message"])]
                     for row in json.loads(problems or "[]"))
    return ("\ufeff" + out.getvalue()).encode()


class Imports:
    """Runs each import off the request, as an asyncio task of this process: the job's row has
    the counts, committed after every chunk of ``CHUNK`` rows (each chunk is one transaction, and
    importing the same file again changes nothing, so a job cut short by a restart is finished by
    uploading the file again)."""

    def __init__(self, db: Database, settings: Settings, notify: flows.Notify, clock: Callable[[], datetime],
                 wake: Callable[[], None] = lambda: None) -> None:
        self.db, self.settings, self.notify, self.clock = db, settings, notify, clock
        self.wake = wake  # tells the sender that confirmation mail was queued
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, data: bytes, *, filename: str, confirmed: bool, actor: str) -> int:
        if not data.strip():
            raise InvalidInput("file", "the file is empty", public_message="الملف فارغ. اختر ملف CSV فيه عناوين.")
        if len(data) > IMPORT_MAX_BYTES:
            raise InvalidInput("file", f"over {IMPORT_MAX_BYTES} bytes",
                               public_message="الملف أكبر من 20 ميغابايت. قسّمه إلى ملفات أصغر.")
        async with self.db.transaction() as session:
            job = ImportJob(actor=actor, filename=filename[:200], confirmed=confirmed, status="queued",
                            created_at=self.clock())
            session.add(job)
            await session.flush()
            job_id = job.id
        task = asyncio.create_task(self._run(job_id, data, confirmed, actor), name=f"import-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job_id

    async def wait(self) -> None:
        """Until every running import is over (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _set(self, job_id: int, **values: Any) -> None:
        async with self.db.transaction() as session:
            await session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))

    async def _run(self, job_id: int, data: bytes, confirmed: bool, actor: str) -> None:
        try:
            await self._import(job_id, data, confirmed, actor)
        except Exception as exc:  # the job says it failed; the chunks done so far stay
            log.exception("import job %s failed", job_id)
            await self._set(job_id, status="failed", error=str(exc)[:500], finished_at=self.clock())

    async def _import(self, job_id: int, data: bytes, confirmed: bool, actor: str) -> None:
        async with self.db.transaction() as session:
            sections = {name: id_ for id_, name in (await store.section_names(session)).items()}
        parsed = await off_loop(importer.parse, data, lists=self.settings.lists, sections=sections,
                                smtputf8=self.settings.relay_smtputf8)
        problems = [problem_row(p) for p in parsed.problems]
        await self._set(job_id, status="running", total=len(parsed.rows), bad=len(parsed.problems),
                        problems=await off_loop(json.dumps, problems, ensure_ascii=False))
        added = existing = 0
        skipped: list[importer.Problem] = []
        for start in range(0, len(parsed.rows), CHUNK):
            chunk = parsed.rows[start:start + CHUNK]
            async with self.db.writing() as session:  # SQLite: in turn with the sender and the site
                done = await importer.apply(session, self.settings, chunk, now=self.clock(), confirmed=confirmed,
                                            notify=self.notify)
                added, existing = added + done.added, existing + done.existing
                skipped += done.skipped
                # the counts only: the report is written once, at the end (rewriting it with every
                # chunk made an import with many bad rows quadratic)
                await session.execute(update(ImportJob).where(ImportJob.id == job_id).values(
                    processed=start + len(chunk), added=added, existing=existing, suppressed=len(skipped)))
            if done.added and not confirmed:
                self.wake()
            await asyncio.sleep(0)
        final: dict[str, Any] = {"status": "done", "finished_at": self.clock()}
        if skipped:  # the suppressed rows join the report, in the file's order
            rows = sorted(problems + [problem_row(p) for p in skipped], key=lambda r: r["line"])
            final["problems"] = await off_loop(json.dumps, rows, ensure_ascii=False)
        async with self.db.transaction() as session:
            await session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**final))
            await audit.record(session, actor=actor, action="import", subscriber_id=None, now=self.clock(),
                               detail=f"عملية الاستيراد رقم {job_id}: أُضيف {added}، وكان موجوداً {existing}، "
                                      f"ومحظور {len(skipped)}، وأسطر مرفوضة {len(parsed.problems)}")


async def job(db: Database, job_id: int) -> ImportJob:
    async with db.transaction() as session:
        found = await session.get(ImportJob, job_id)
    if found is None:
        raise NotFound(f"no import job {job_id}", public_message="لا توجد عملية استيراد بهذا الرقم.")
    return found


async def recent_jobs(db: Database, limit: int = 10) -> list[ImportJob]:
    async with db.transaction() as session:
        return list(await session.scalars(select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)))


# export -------------------------------------------------------------------------------------------


async def export_csv(db: Database, *, status: str | None = None, bom: bool = True) -> AsyncIterator[bytes]:
    """The export as CSV bytes, a chunk of subscribers at a time (keyset by id), each chunk read in
    its own short transaction so a long download holds no lock."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(importer.EXPORT_COLUMNS)
    yield (("\ufeff" if bom else "") + out.getvalue()).encode()
    after = 0
    while True:
        async with db.transaction() as session:
            names = await store.section_names(session)
            subs = await store.page(session, status=status, after_id=after, limit=CHUNK)
            if not subs:
                return
            chosen = await store.sections_of(session, [s.id for s in subs])
            taken = await store.lists_of(session, [s.id for s in subs])
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for sub in subs:
            sections = sorted(names[i] for i in chosen.get(sub.id, ()) if i in names)
            writer.writerow(importer.export_row(sub, sorted(taken.get(sub.id, ())), sections))
        yield out.getvalue().encode()
        after = subs[-1].id
