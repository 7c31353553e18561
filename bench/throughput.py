"""Throughput benchmark: the project's send path against the hand-written loop and the C ceiling.

In one run on one machine it starts Postfix's ``smtp-sink`` on loopback and measures

* the ceiling: Postfix's ``smtp-source`` sending messages of the same size, at a few session counts;
* the project's SMTP transport alone: one process sending one composed digest to every address
  over its pool, as a sending process does, without the database or composing per recipient
  (what the rest of the path costs is the difference);
* the naive loop a user writes by hand with the same libraries and templates: per recipient,
  render Jinja2, run premailer, build an ``EmailMessage``, send with aiosmtplib on one connection;
* the project's path: a real edition for N subscribers in a real database (SQLite, and PostgreSQL
  when ``--pg`` is given), from planning the edition to every outbox row ``sent``;

each a few times, in fresh processes, and prints medians, msgs/s, the ratios project/naive and
project/ceiling (also against the ceiling measured again right before each project run: a shared
machine's speed drifts), the peak RSS of the project's process, the machine's idle share during
each run and what the hypervisor took, and smtp-sink's CPU a message with what it leaves a sender
that would match the ceiling; ``--dkim`` repeats the naive loop
(signing with dkimpy) and the project's path with DKIM signing on. ``--scale 1000000`` then adds
the send of a million-subscriber edition beside one of 10,000 (peak RSS: memory stays flat) and
the subscriber side at a million (``bench/scale.py``), so that one run prints every figure.

    python bench/throughput.py --subscribers 20000 --repeat 3 [--pg postgresql+asyncpg://...] [--dkim]
    python bench/throughput.py --subscribers 20000 --profile 30     # where the time goes, per message
    python bench/throughput.py --scale 1000000 --only-scale          # at a million: memory, subscriber side
    python bench/throughput.py --against ../base --repeat 4         # this checkout against another
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from procstat import cpu_seconds, machine_idle, tree_cpu  # bench/procstat.py
from scratch import create_pg, drop_pg  # bench/scratch.py

ROOT = Path(__file__).resolve().parents[1]
FROM = "newsletter@news.example.com"
SECRET = "bench-secret-" + "x" * 40
DOMAINS = 20  # recipient domains of the project's edition


# -- Postfix's test tools ---------------------------------------------------------------------

def postfix_tools(cache: Path) -> tuple[str, str]:
    """``smtp-sink`` and ``smtp-source``: installed ones, or unpacked from Debian's package."""
    for directory in ("/usr/sbin", "/usr/bin"):
        sink, source = Path(directory, "smtp-sink"), Path(directory, "smtp-source")
        if sink.exists() and source.exists():
            return str(sink), str(source)
    unpacked = cache / "postfix"
    sink, source = unpacked / "usr/sbin/smtp-sink", unpacked / "usr/sbin/smtp-source"
    if not sink.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "postfix"], cwd=cache, check=True)
        deb = next(cache.glob("postfix_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    return str(sink), str(source)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sink:
    """``smtp-sink`` on a loopback port: accepts everything, keeps nothing."""

    def __init__(self, binary: str) -> None:
        self.port = free_port()
        args = [binary]
        if os.geteuid() == 0:
            args += ["-u", "postfix" if _user_exists("postfix") else "nobody"]
        self.process = subprocess.Popen([*args, f"127.0.0.1:{self.port}", "1024"])
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def cpu(self) -> float:
        """User and system seconds ``smtp-sink`` (one process) has used so far."""
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(5)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


# -- the children: each measured in a fresh process ----------------------------------------------

def articles_feed() -> bytes:
    sys.path.insert(0, str(ROOT))
    from mailer.articles import demo

    return demo.demo_feed("https://news.example.com", datetime.now(UTC))


async def child_project(args: argparse.Namespace) -> dict[str, Any]:
    """A real edition for N subscribers, from planning to every row sent."""
    from sqlalchemy import func, insert, literal, select

    from mailer.articles import ingest
    from mailer.core.models import OutboxMessage
    from mailer.core.settings import load_settings
    from mailer.delivery.service import Service
    from subscribers.models import Subscriber, SubscriberList

    extra = {"sender_processes": args.senders, **json.loads(args.settings or "{}")}
    settings = load_settings(
        data_dir=Path(args.workdir), database_url=args.db, smtp_url=f"smtp://127.0.0.1:{args.port}",
        secret_key=SECRET, sender_address=FROM, base_url="https://news.example.com",
        log_level="WARNING", **extra,
    )
    svc = await Service(settings).start()
    now = datetime.now(UTC)
    parsed = ingest.parse_feed(articles_feed(), now=now)
    # published in the last minute, not the last hour: in the hour after the list's scheduled
    # time the older ones would belong to the previous period, and the edition would be empty
    articles = [dataclasses.replace(a, published_at=now - timedelta(seconds=n)) for n, a in enumerate(parsed.articles)]
    # A list spreads over many domains; all in one, MAILER_DOMAIN_CONCURRENCY (split between the
    # sending processes on SQLite) would hold the sends below what the pool can carry.
    async with svc.db.transaction() as session:
        await ingest.store(session, articles)
        for start in range(0, args.count, 5000):
            await session.execute(insert(Subscriber), [
                {"email": f"reader{i}@example{i % DOMAINS}.org", "email_ascii": f"reader{i}@example{i % DOMAINS}.org",
                 "name": f"قارئ {i}", "status": "confirmed", "created_at": now,
                 "updated_at": now, "bounce_score": 0, "no_shares": False}
                for i in range(start, min(start + 5000, args.count))
            ])
        await session.execute(insert(SubscriberList).from_select(
            ["list_name", "subscriber_id"], select(literal("daily"), Subscriber.id)))
    # The other sending processes (MAILER_SENDER_PROCESSES) are running before the edition is
    # planned, as they are in `mailer serve` or `mailer worker` when the scheduler fires.
    svc.start_senders()
    if svc.group is not None and not await svc.group.ready():
        raise RuntimeError("the sending helpers did not start")
    profiler = cProfile.Profile() if args.profile_out else None
    cpu_before, machine_before = tree_cpu(), machine_idle()
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    planned = await svc.send_now("daily")
    assert planned.edition is not None
    await svc.finish(planned.edition.id, poll=0.01)  # what `mailer digest send --now` waits with
    seconds = time.perf_counter() - started
    spent = _spent(cpu_before, machine_before)  # helpers still run: they stop when the service closes
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile_out)
    async with svc.db.transaction() as session:
        sent = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")
        )
    await svc.close()
    return {"seconds": seconds, "sent": sent, **spent}


async def child_naive(args: argparse.Namespace) -> dict[str, Any]:
    """What a user writes by hand with the same libraries, template and articles."""
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    import aiosmtplib
    import jinja2
    import premailer
    from markupsafe import Markup

    from mailer.articles import ingest
    from mailer.compose.layout import news_layout
    from mailer.compose.render import ArticleView
    from mailer.core import arabic

    now = datetime.now(UTC)
    articles = ingest.parse_feed(articles_feed(), now=now).articles
    templates = ROOT / "templates"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)),
                             autoescape=jinja2.select_autoescape(["html"]))
    env.filters["headline"] = lambda s: Markup(arabic.headline_html(str(s)))
    env.filters["isolate"] = lambda s: Markup(arabic.isolate_html(str(s)))
    env.filters["cut"] = lambda s, n: arabic.cut_at_word(str(s), n)
    env.filters["digits"] = str
    css = (templates / "email/styles.css").read_text(encoding="utf-8")
    signer = _dkimpy_signer(args.dkim_key) if args.dkim_key else None
    context = {
        "site": {"name": "أخبار الموقع", "url": "https://news.example.com"},
        "list": {"name": "daily", "label": "النشرة اليومية"},
        "edition": {"date_text": arabic.gregorian_date(now.date()), "date_short": "", "hijri_text": ""},
        "layout": news_layout([ArticleView(id=n, title=a.title, url=a.url, summary=a.summary_text,
                                           image_url=a.image_url, image_alt=a.image_alt, section=a.section)
                               for n, a in enumerate(articles)]),
        "web": False, "web_url": "https://news.example.com/archive/daily/1",
        "archive_url": "https://news.example.com/archive/daily",
        "preheader": articles[0].title,
        "subject": "أخبار الموقع: النشرة اليومية",
    }
    started = time.perf_counter()
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=args.port) as smtp:
        for i in range(args.count):
            personal = {"name": f" قارئ {i}", "unsubscribe_url": f"https://news.example.com/u/{i}",
                        "preferences_url": f"https://news.example.com/p/{i}"}
            html = env.get_template("email/digest.html").render(**context, personal=personal)
            html = premailer.Premailer(html, css_text=css, keep_style_tags=False, remove_classes=False,
                                       strip_important=False, allow_network=False,
                                       cssutils_logging_level=50).transform()
            text = env.get_template("email/digest.txt").render(**context, personal=personal)
            msg = EmailMessage()
            msg["From"] = Address("أخبار الموقع", addr_spec=FROM)
            msg["To"] = f"reader{i}@example.org"
            msg["Subject"] = context["subject"]
            msg["Date"] = format_datetime(now)
            msg["Message-ID"] = make_msgid(domain="news.example.com")
            msg["List-Unsubscribe"] = f"<{personal['unsubscribe_url']}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            msg.set_content(text)
            msg.add_alternative(html, subtype="html")
            if signer is None:
                await smtp.send_message(msg)
            else:
                data = msg.as_bytes()
                await smtp.sendmail(FROM, [f"reader{i}@example.org"], signer(data) + data)
    return {"seconds": time.perf_counter() - started, "sent": args.count, "size": len(msg.as_bytes())}


def _dkimpy_signer(key_file: str) -> Any:
    import dkim

    key = Path(key_file).read_bytes()
    headers = [b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe",
               b"list-unsubscribe-post"]
    return lambda data: dkim.sign(data, b"bench", b"news.example.com", key, include_headers=headers)


def digest_bytes() -> bytes:
    """One digest as the project composes it (the ceiling sends this many bytes)."""
    from mailer.articles import ingest
    from mailer.compose.message import MessageTemplate, Personal
    from mailer.compose.render import ArticleView, DigestView, Renderer
    from mailer.core.headers import Identity
    from mailer.core.settings import load_settings

    settings = load_settings(data_dir=Path(tempfile.mkdtemp()), secret_key=SECRET, sender_address=FROM,
                             base_url="https://news.example.com")
    now = datetime.now(UTC)
    articles = tuple(
        ArticleView(id=n, title=a.title, url=a.url, summary=a.summary_text, section=a.section)
        for n, a in enumerate(ingest.parse_feed(articles_feed(), now=now).articles)
    )
    identity = Identity.for_list(settings, "daily")
    rendered = Renderer(settings).digest(DigestView("daily", now.date(), articles), identity)
    data = MessageTemplate.build(rendered, identity, now).personalise(
        Personal(to="reader1@example.org", message_id="e1.s1", token="1.daily." + "x" * 22,
                 pref_token="1.pref." + "x" * 22, name="قارئ 1"))
    return data


async def child_transport(args: argparse.Namespace) -> dict[str, Any]:
    """The project's SMTP transport alone, as one sending process drives it (its pool, two messages
    in flight a connection), with one composed digest: no database, no composing per recipient.
    What the rest of the project's path costs is the difference."""
    from mailer.core.settings import Settings
    from mailer.core.urls import SmtpConfig
    from mailer.delivery.sender import LANES_A_CONNECTION
    from mailer.delivery.transport import SMTPTransport

    data = digest_bytes()
    pool = Settings.model_fields["smtp_pool_size"].default
    transport = SMTPTransport(SmtpConfig("127.0.0.1", args.port, "none", None, None), pool_size=pool)
    order = iter(range(args.count))

    async def lane() -> None:
        for i in order:
            outcome = await transport.send(FROM, f"reader{i}@example{i % DOMAINS}.org", data, canonical=True)
            if outcome.code != 250:
                raise RuntimeError(f"the sink refused a message: {outcome}")

    cpu_before, machine_before = tree_cpu(), machine_idle()
    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(LANES_A_CONNECTION * pool)))
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "sent": args.count, **_spent(cpu_before, machine_before)}
    await transport.close()
    return result


def _spent(cpu_before: dict[int, float], machine_before: tuple[int, int, int]) -> dict[str, float]:
    """Since the ``before`` readings: the CPU seconds of this process and its descendants, and the
    machine's idle and stolen shares."""
    idle, steal, total = (after - before for after, before in zip(machine_idle(), machine_before, strict=True))
    return {"send_cpu": sum(cpu - cpu_before.get(pid, 0.0) for pid, cpu in tree_cpu().items()),
            "idle": idle / max(total, 1), "steal": steal / max(total, 1)}


# -- the parent: runs everything, prints the table -------------------------------------------------

@dataclass
class Figure:
    label: str
    seconds: list[float]
    count: int
    rss_mb: list[float]
    cpu: list[float] = field(default_factory=list)  # user + system seconds of the child and its helpers
    sink_cpu: list[float] = field(default_factory=list)  # smtp-sink's user + system seconds a run
    send_cpu: list[float] = field(default_factory=list)  # the project's processes, planning to sent
    paired: list[float] = field(default_factory=list)  # rate / the ceiling's rate measured just before
    idle: list[float] = field(default_factory=list)  # the machine's idle share during a run
    steal: list[float] = field(default_factory=list)  # the share the hypervisor took

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.count / self.median

    @property
    def sink_us(self) -> float:
        """smtp-sink's CPU a message, in microseconds (median of the runs)."""
        return 1e6 * statistics.median(self.sink_cpu) / self.count

    @property
    def send_us(self) -> float:
        """The measured processes' CPU a message, in microseconds (median of the runs)."""
        return 1e6 * statistics.median(self.send_cpu) / self.count


def run_child(mode: str, argv: list[str], root: Path = ROOT) -> tuple[dict[str, Any], float]:
    """Run a child in a fresh interpreter, from the checkout ``root``; returns its JSON result
    (with ``cpu``: the user and system seconds of the child and the processes it waited for) and
    its peak RSS in MB."""
    proc = subprocess.Popen([sys.executable, str(root / "bench" / "throughput.py"), "--child", mode, *argv],
                            stdout=subprocess.PIPE, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"{mode} child failed with status {status}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["cpu"] = usage.ru_utime + usage.ru_stime
    return result, usage.ru_maxrss / 1024


def ceiling(source: str, port: int, size: int, count: int, sessions: int) -> float:
    started = time.perf_counter()
    subprocess.run([source, "-d", "-s", str(sessions), "-m", str(count), "-l", str(size),
                    "-f", FROM, "-t", "reader@example.org", f"127.0.0.1:{port}"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=20000, help="recipients of the project's edition")
    parser.add_argument("--naive", type=int, default=1000, help="messages the naive loop sends per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (medians are printed)")
    parser.add_argument("--sessions", default="1,5,10", help="smtp-source session counts for the ceiling")
    parser.add_argument("--pg", help="also measure on this PostgreSQL URL (a scratch database is made)")
    parser.add_argument("--dkim", action="store_true", help="also measure with DKIM signing")
    parser.add_argument("--settings", default="{}", help="extra project settings as JSON (for experiments)")
    parser.add_argument("--senders", type=int, default=None,
                        help="MAILER_SENDER_PROCESSES of the project's path (sending processes sharing the "
                        "outbox; default 2, and 1 with --profile, which sees one process)")
    parser.add_argument("--profile", metavar="TOP", type=int, default=0,
                        help="only profile the project's path once (SQLite) and print the TOP entries per message")
    parser.add_argument("--against", metavar="CHECKOUT", help="only measure the project's path (SQLite, or "
                        "PostgreSQL with --pg; signed with --dkim), alternating runs of this checkout and CHECKOUT "
                        "(e.g. a git worktree of the commit before a change), and print the rate and CPU a message "
                        "of each")
    parser.add_argument("--scale", metavar="[A,]N", help="after the other figures, the project's path (SQLite) "
                        "once for 10,000 (or A) and once for N subscribers, with the peak RSS of each (flat "
                        "memory), then the subscriber side at N (bench/scale.py: import, export and planning on "
                        "SQLite and --pg, the /subscribe load); e.g. 1000000")
    parser.add_argument("--requests", type=int, default=5000, help="POST /subscribe requests of --scale's load")
    parser.add_argument("--only-scale", action="store_true", help="measure only what --scale adds")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--dkim-key", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", dest="profile_out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only_scale and not args.scale:
        parser.error("--only-scale needs --scale")
    if args.child:
        sys.path.insert(0, str(ROOT))
        from mailer.core import loop

        if args.child == "naive":  # what a hand-written script runs on
            result = asyncio.run(child_naive(args))
        else:  # the loop the project's commands run on
            result = loop.run((child_project if args.child == "project" else child_transport)(args))
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    parent(args)


def parent(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="mailer-bench-"))
    sink_bin, source_bin = postfix_tools(work / "cache")
    sink = Sink(sink_bin)
    try:
        if args.profile:
            profile(args, sink.port, work, args.profile)
            return
        if args.only_scale:
            at_scale(args, sink.port, work)
            return
        if args.against:
            against(args, sink.port, work, Path(args.against).resolve())
            return
        size = len(digest_bytes())
        print(f"message size {size} bytes; project edition of {args.subscribers} subscribers; "
              f"naive loop {args.naive} messages; {args.repeat} runs each; {os.cpu_count()} cores\n")
        figures: dict[str, Figure] = {}
        best_ceiling: Figure | None = None
        best_sessions = 1
        for sessions in [int(s) for s in args.sessions.split(",")]:
            fig = Figure(f"smtp-source, {sessions} sessions", [], args.subscribers, [])
            for _ in range(args.repeat):
                before = sink.cpu()
                fig.seconds.append(ceiling(source_bin, sink.port, size, args.subscribers, sessions))
                fig.sink_cpu.append(sink.cpu() - before)
            figures[fig.label] = fig
            if best_ceiling is None or fig.rate > best_ceiling.rate:
                best_ceiling, best_sessions = fig, sessions

        def paired_run(fig: Figure, run: Callable[[], float]) -> None:
            """``run`` (which returns its seconds) right after the ceiling is measured again: a
            shared machine's speed drifts over minutes, so each run is compared with its own."""
            paired = ceiling(source_bin, sink.port, size, args.subscribers, best_sessions)
            before = sink.cpu()
            seconds = run()
            fig.sink_cpu.append(sink.cpu() - before)
            fig.seconds.append(seconds)
            fig.paired.append(paired / seconds)

        transport = Figure("project's SMTP transport alone", [], args.subscribers, [])
        for _ in range(args.repeat):
            paired_run(transport, partial(_transport_run, sink.port, args.subscribers, transport))
        figures[transport.label] = transport
        assert best_ceiling is not None
        print(f"{transport.label} (one process, one composed digest sent to every address, no database): "
              f"{transport.rate:,.0f} msgs/s, {transport.rate / best_ceiling.rate:.0%} of the ceiling, "
              f"{statistics.median(transport.paired):.0%} of the ceiling measured right before each run; "
              f"{transport.send_us:.0f} us of CPU a message", flush=True)
        dkim_key = _bench_key(work) if args.dkim else None
        for dkim_on in ([False, True] if args.dkim else [False]):
            suffix = " + DKIM" if dkim_on else ""
            naive = Figure(f"naive loop{suffix}", [], args.naive, [])
            for _ in range(args.repeat):
                extra = ["--dkim-key", str(dkim_key)] if dkim_on else []
                result, rss = run_child("naive", ["--port", str(sink.port), "--count", str(args.naive), *extra])
                naive.seconds.append(result["seconds"])
                naive.rss_mb.append(rss)
            figures[naive.label] = naive
            print(f"{naive.label}: {naive.rate:,.0f} msgs/s ({result['size']} bytes a message)", flush=True)
            databases = [("SQLite", None)] + ([("PostgreSQL", args.pg)] if args.pg else [])
            for name, pg in databases:
                fig = Figure(f"project, {name}{suffix}", [], args.subscribers, [])
                for run in range(args.repeat):
                    paired_run(fig, partial(_project_run, args, sink.port, work / f"{name}{run}{dkim_on}", pg,
                                            dkim_key if dkim_on else None, fig))
                figures[fig.label] = fig
                _ratio_line(fig, naive, best_ceiling)
        print()
        _table(figures)
        if best_ceiling is not None:
            _budget(best_ceiling, [f for f in figures.values() if f.label.startswith("project")])
        if args.scale:
            at_scale(args, sink.port, work)
    finally:
        sink.stop()
        shutil.rmtree(work, ignore_errors=True)


def profile(args: argparse.Namespace, port: int, work: Path, top: int) -> None:
    """One run of the project's path under cProfile: where the time goes, per message."""
    import pstats

    stats_file = work / "project.prof"
    workdir = work / "profile"
    workdir.mkdir()
    result, rss = run_child("project", ["--port", str(port), "--count", str(args.subscribers),
                                        "--db", f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
                                        "--workdir", str(workdir), "--settings", args.settings,
                                        "--senders", str(args.senders or 1), "--profile-out", str(stats_file)])
    count = args.subscribers
    print(f"{args.senders or 1} sending process(es), the first one profiled")
    print(f"project, SQLite, under cProfile: {count} messages in {result['seconds']:.2f} s "
          f"({1e6 * result['seconds'] / count:.0f} us a message with the profiler's overhead); "
          f"peak RSS {rss:.0f} MB\n")
    stats = pstats.Stats(str(stats_file))
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    print(f"{'own us/msg':>10} {'cum us/msg':>10} {'calls/msg':>10}  function")
    for (filename, line, name), (_, calls, own, cumulative, _) in entries[:top]:
        where = f"{Path(filename).name}:{line}" if line else filename
        print(f"{1e6 * own / count:>10.1f} {1e6 * cumulative / count:>10.1f} {calls / count:>10.2f}  {name} ({where})")


def _bench_key(work: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = work / "dkim.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def at_scale(args: argparse.Namespace, port: int, work: Path) -> None:
    """``--scale``: the send at two edition sizes (time and peak RSS: memory must stay flat), then
    the subscriber side at the larger one."""
    import scale  # bench/scale.py

    sizes = [int(n) for n in args.scale.split(",")]
    sizes = sizes if len(sizes) > 1 else [10_000, *sizes]
    print(f"\nat scale: the send at {' and '.join(f'{n:,}' for n in sizes)} subscribers", flush=True)
    flat_memory(args, port, work, sizes)
    print(f"\nthe subscriber side at {sizes[-1]:,} rows (bench/scale.py)", flush=True)
    scale.show(scale.measure(sizes[-1], args.pg, args.requests), sizes[-1])


def flat_memory(args: argparse.Namespace, port: int, work: Path, sizes: list[int]) -> None:
    """The project's path at several edition sizes: the time and the peak RSS of each."""
    first: Figure | None = None
    for count in sizes:
        fig = Figure(f"project, SQLite, {count} subscribers", [], count, [])
        fig.seconds.append(_project_run(args, port, work / f"scale{count}", None, None, fig, count=count))
        rss = max(fig.rss_mb)
        line = f"{fig.label}: {fig.median:.2f} s, {fig.rate:,.0f} msgs/s, peak RSS {rss:.0f} MB"
        if first is not None:
            growth = rss / max(first.rss_mb) - 1
            line += (f" ({100 * growth:+.1f}% against {first.count:,}; goal within 10%: "
                     f"{'met' if growth <= 0.10 else 'MISSED'})")
        print(line, flush=True)
        first = first or fig


def against(args: argparse.Namespace, port: int, work: Path, other: Path) -> None:
    """The project's path of this checkout and of ``other``, one run of each in turn (the first
    of a pair alternates), so that a change is compared with its base on the same machine at the
    same time: a shared machine's speed drifts more between minutes than most changes move it."""
    if not (other / "bench" / "throughput.py").is_file():
        raise SystemExit(f"--against: {other} is not a checkout of this project (no bench/throughput.py)")
    suffix = " + DKIM" if args.dkim else ""
    database = "PostgreSQL" if args.pg else "SQLite"
    dkim_key = _bench_key(work) if args.dkim else None
    # by position, not by path: a checkout against itself (how large is the noise?) is two sides too
    sides = [(root, Figure(f"project, {database}{suffix}, {root}", [], args.subscribers, []))
             for root in (ROOT, other)]
    for run in range(args.repeat):
        for side in (0, 1) if run % 2 == 0 else (1, 0):
            root, fig = sides[side]
            fig.seconds.append(_project_run(args, port, work / f"against{run}-{side}", args.pg, dkim_key, fig,
                                            root=root))
            print(f"{fig.label}: {args.subscribers / fig.seconds[-1]:,.0f} msgs/s, "
                  f"{1e6 * fig.send_cpu[-1] / fig.count:.0f} us of CPU a message", flush=True)
    (_, mine), (_, theirs) = sides
    for fig in (mine, theirs):
        print(f"{fig.label}: median {fig.rate:,.0f} msgs/s, {fig.send_us:.0f} us of CPU a message, "
              f"machine idle {statistics.median(fig.idle):.0%}")
    print(f"this checkout against the other: {mine.rate / theirs.rate:.2f}x the rate, "
          f"{mine.send_us / theirs.send_us:.2f}x the CPU a message")


def _project_run(args: argparse.Namespace, port: int, workdir: Path, pg: str | None,
                 dkim_key: Path | None, fig: Figure, *, count: int | None = None, root: Path = ROOT) -> float:
    workdir.mkdir(parents=True, exist_ok=True)
    db = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    if pg:
        db = asyncio.run(create_pg(pg, "mailer_bench"))
    settings = json.loads(args.settings)
    if dkim_key is not None:
        settings.update({"dkim_key_file": str(dkim_key), "dkim_selector": "bench",
                         "dkim_domain": "news.example.com"})
    count = count or args.subscribers
    try:
        result, rss = run_child("project", ["--port", str(port), "--count", str(count),
                                            "--db", db, "--workdir", str(workdir), "--senders", str(args.senders or 2),
                                            "--settings", json.dumps(settings)], root)
    finally:
        if pg:
            asyncio.run(drop_pg(pg, db))
    if result["sent"] != count:
        raise RuntimeError(f"project sent {result['sent']} of {count}")
    fig.rss_mb.append(rss)
    fig.cpu.append(result["cpu"])
    _note_spent(fig, result)
    return float(result["seconds"])


def _transport_run(port: int, count: int, fig: Figure) -> float:
    result, _ = run_child("transport", ["--port", str(port), "--count", str(count)])
    _note_spent(fig, result)
    return float(result["seconds"])


def _note_spent(fig: Figure, result: dict[str, Any]) -> None:
    fig.send_cpu.append(result["send_cpu"])
    fig.idle.append(result["idle"])
    fig.steal.append(result["steal"])


def _ratio_line(project: Figure, naive: Figure, ceiling_fig: Figure | None) -> None:
    line = f"{project.label}: {project.rate:,.0f} msgs/s = {project.rate / naive.rate:.1f}x the {naive.label}"
    if ceiling_fig is not None:
        line += f", {100 * project.rate / ceiling_fig.rate:.0f}% of the ceiling ({ceiling_fig.label}"
        line += ", which does not sign)" if "DKIM" in project.label else ")"
    if project.paired:
        line += (f", {statistics.median(project.paired):.0%} of the ceiling measured right before each run "
                 f"(median of {len(project.paired)} pairs: {', '.join(f'{r:.0%}' for r in project.paired)})")
    line += f"; peak RSS {max(project.rss_mb):.0f} MB; CPU {statistics.median(project.cpu):.1f} s a run"
    line += (f"; machine idle {statistics.median(project.idle):.0%}, stolen by the host "
             f"{statistics.median(project.steal):.0%}")
    print(line, flush=True)


def _budget(ceiling_fig: Figure, projects: list[Figure]) -> None:
    """What the ceiling leaves a sender on this machine: smtp-sink needs its CPU for every
    message on the same cores, so a sender that matches the ceiling's rate has what remains."""
    cores = os.cpu_count() or 1
    rate, sink_us = ceiling_fig.rate, ceiling_fig.sink_us
    left = 1e6 * cores / rate - sink_us
    print(f"\nsmtp-sink's CPU a message: {sink_us:.0f} us under {ceiling_fig.label} "
          f"({sink_us * rate / 1e6:.0%} of a core at {rate:,.0f} msgs/s)"
          + "".join(f"; {p.sink_us:.0f} us under {p.label}" for p in projects))
    print(f"to match the ceiling on {cores} cores a sender has {left:.0f} us of CPU a message "
          f"(all its processes, DKIM included); the project used, from planning to the last row sent: "
          + "; ".join(f"{p.send_us:.0f} us ({p.label})" for p in projects))


def _table(figures: dict[str, Figure]) -> None:
    print(f"{'measurement':40} {'messages':>9} {'median s':>9} {'msgs/s':>9} {'runs (s)':>24} {'peak RSS MB':>12}")
    for fig in figures.values():
        runs = ", ".join(f"{s:.2f}" for s in fig.seconds)
        rss = f"{max(fig.rss_mb):.0f}" if fig.rss_mb else "-"
        print(f"{fig.label:40} {fig.count:>9} {fig.median:>9.2f} {fig.rate:>9,.0f} {runs:>24} {rss:>12}")


if __name__ == "__main__":
    main()
