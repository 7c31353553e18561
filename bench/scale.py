"""The subscriber side at scale, in one run: import N confirmed rows from CSV, export them,
plan an edition for all of them, and load ``POST /subscribe`` on a real uvicorn.

    .venv/bin/python bench/scale.py [--scale 1000000] [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]

Each step runs in a fresh process through the project's real path, and its wall time and peak
RSS (``wait4``) are printed:

* import: ``mailer subscribers import --confirmed FILE`` (a CSV of N valid rows with Arabic
  names, a list and a section each);
* export: ``mailer subscribers export FILE`` (the file is checked to hold N + 1 lines);
* plan: ``Service.send_now`` (what ``mailer digest send --now`` calls before it sends), which
  creates the edition and its N outbox rows; nothing is sent;
* pages: with that edition paused (so the server sends none of it), ``mailer serve`` on the
  same database, and what a reader opens (the subscribe form, the preferences page of a
  subscriber in the middle of the table) and an editor opens, signed in (the home page, the
  dashboard, the subscriber search and a subscriber's file, the editions and that edition's
  report, the previews of the next digests and of that edition): one request at a time, the
  first apart (cold caches, a preview's SpamAssassin run), then the median and the slowest of 5;
* ``/subscribe``: ``mailer serve --no-scheduler`` on SQLite, pinned to one core with
  ``taskset``, relaying to Postfix's ``smtp-sink`` when installed, with the per-client limit
  and the global breaker lifted; a raw asyncio HTTP/1.1 client on the other core sends
  ``--requests`` JSON subscriptions (distinct addresses) over ``--concurrency`` keep-alive
  connections, after a warm-up. It prints requests/second answered, how long after the last
  answer every request's subscriber and confirmation mail were stored and that mail sent (to
  ``smtp-sink``), the requests a second with that work, and the server's CPU a request
  (``--spy DIR``: where it went, by py-spy).

SQLite always (a file in a temporary directory); PostgreSQL too with ``--pg`` (a database is
created on that server for the run). ``--profile DIR`` runs every step under cProfile too and
prints the top entries (the files stay in DIR); the server under load is better seen with
``py-spy record -p PID`` (cProfile slows it to a crawl).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
from procstat import cpu_seconds  # bench/procstat.py
from scratch import create_pg, drop_pg  # bench/scratch.py

from mailer.delivery.devmailbox import free_port, port_open

SECRET = "bench-secret-" + "x" * 40
ROOT = Path(__file__).resolve().parent.parent
MAILER = Path(sys.executable).parent / "mailer"
SECTION = "سياسة"  # a section of the demo feed: every imported row chooses it


@dataclass
class Step:
    name: str
    seconds: float
    rss_mb: float
    note: str = ""
    cpu: float = float("nan")  # user + system seconds of the step's process: the load of others aside


def env_for(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        MAILER_DATABASE_URL=url, MAILER_SECRET_KEY=SECRET, MAILER_DATA_DIR=str(data_dir),
        MAILER_BASE_URL="https://news.example.com/mailer", MAILER_SENDER_ADDRESS="news@example.com",
        MAILER_LOG_LEVEL="WARNING", COLUMNS="200", **extra,
    )
    return env


def run_child(name: str, argv: list[str], env: dict[str, str], workdir: Path, profile: Path | None) -> Step:
    """Run one step in a fresh process; wall time and that process's own peak RSS."""
    if profile is not None:
        script = argv[1:] if argv[0] == sys.executable else argv
        argv = [sys.executable, "-m", "cProfile", "-o", str(profile / f"{name}.prof"), *script]
    out, err = workdir / f"{name}.out", workdir / f"{name}.err"
    started = time.perf_counter()
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(argv, env=env, stdout=o, stderr=e, cwd=workdir)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}):\n{out.read_text()[-2000:]}\n{err.read_text()[-4000:]}")
    return Step(name, seconds, usage.ru_maxrss / 1024, out.read_text().strip().splitlines()[-1] if
                out.stat().st_size else "", usage.ru_utime + usage.ru_stime)


def write_csv(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("email,name,lists,sections\r\n")
        for start in range(0, count, 10000):
            f.write("".join(
                f"reader{i}@example{i % 97}.org,قارئ رقم {i},daily,{SECTION}\r\n"
                for i in range(start, min(start + 10000, count))
            ))


# the children ----------------------------------------------------------------------------------


async def prepare_child() -> None:
    """Migrate and seed the demo articles (their sections) before the import, untimed."""
    from sqlalchemy import update

    from mailer.cli.demo import seed_demo
    from mailer.core.models import Article
    from mailer.core.settings import Settings
    from mailer.delivery.service import Service

    svc = await Service(Settings()).start()  # type: ignore[call-arg]
    try:
        ids = await seed_demo(svc)
        # published in the last minute: in the hour after the list's scheduled time, articles
        # from before it belong to the previous period and the planned edition would be empty
        now = svc.clock()
        async with svc.db.transaction() as session:
            for n, article_id in enumerate(ids):
                await session.execute(update(Article).where(Article.id == article_id)
                                      .values(published_at=now - timedelta(seconds=n)))
    finally:
        await svc.close()


async def plan_child() -> None:
    """Plan an edition of the first list on demand and print how many rows it enqueued."""
    from mailer.core.settings import Settings
    from mailer.delivery.service import Service

    svc = await Service(Settings()).start(migrate=False)  # type: ignore[call-arg]
    try:
        started = time.perf_counter()
        result = await svc.send_now(svc.settings.scheduled_lists[0])
        print(json.dumps({"enqueued": result.enqueued, "action": result.action,
                          "seconds": time.perf_counter() - started,
                          "edition": result.edition.id if result.edition else None}))
    finally:
        await svc.close()


async def reader_child(edition: int) -> None:
    """A subscriber in the middle of the table and the link to their preferences page; the
    planned edition paused as an editor would, so that the server sends none of it meanwhile."""
    from sqlalchemy import func, select

    from mailer.core.db import Database
    from mailer.core.settings import Settings
    from mailer.delivery import breaker
    from subscribers import tokens
    from subscribers.models import Subscriber

    settings = Settings()  # type: ignore[call-arg]
    db = Database(settings.database_url)
    try:
        async with db.transaction() as session:
            await breaker.pause(session, edition, "bench")
            top = await session.scalar(select(func.max(Subscriber.id)))
            sub = await session.scalar(select(Subscriber).where(Subscriber.id >= (top or 0) // 2)
                                       .order_by(Subscriber.id).limit(1))
        assert sub is not None
        print(json.dumps({"id": sub.id, "email": sub.email,
                          "token": tokens.preferences_token(settings.keyring, sub.id, sub.link_key)}))
    finally:
        await db.dispose()


# the subscriber side ---------------------------------------------------------------------------


def subscriber_side(backend: str, url: str, count: int, workdir: Path, profile: Path | None) -> list[Step]:
    data_dir = workdir / "data"
    env = env_for(url, data_dir)
    script = str(Path(__file__).resolve())
    run_child("prepare", [sys.executable, script, "--child", "prepare"], env, workdir, None)
    csv_file = workdir / "subscribers.csv"
    write_csv(csv_file, count)
    steps = []
    step = run_child(f"{backend}-import", [str(MAILER), "subscribers", "import", "--confirmed", str(csv_file)],
                     env, workdir, profile)
    expected = f"{count} added, 0 already there, 0 suppressed, 0 bad rows"
    if expected not in (workdir / f"{backend}-import.out").read_text():
        sys.exit(f"import: expected {expected!r}, got {step.note!r}")
    steps.append(step)
    out = workdir / "export.csv"
    step = run_child(f"{backend}-export", [str(MAILER), "subscribers", "export", str(out)], env, workdir, profile)
    with out.open("rb") as f:
        lines = sum(1 for _ in f)
    if lines != count + 2:  # the header, the demo reader and the imported rows
        sys.exit(f"export: {lines} lines for {count} subscribers")
    steps.append(step)
    out.unlink()
    step = run_child(f"{backend}-plan", [sys.executable, script, "--child", "plan"], env, workdir, profile)
    planned = json.loads(step.note)
    if planned["enqueued"] != count + 1:
        sys.exit(f"plan: {planned}")
    step.note = f"{planned['enqueued']} outbox rows, {planned['seconds']:.1f} s inside the process"
    steps.append(step)
    steps += pages(backend, env, workdir, planned["edition"])
    return steps


# pages at that size ----------------------------------------------------------------------------


EDITOR = ("bench", "bench pass phrase 1")
PAGES = (  # what a reader and an editor open, with the table at its full size
    "/subscribe", "/p/{token}", "/editor", "/editor/dashboard", "/editor/subscribers",
    "/editor/subscribers?q={email}", "/editor/subscribers/{id}", "/editor/editions", "/editor/editions/{edition}",
    "/editor/preview/digest?ref=weekly", "/editor/preview/digest?ref=daily", "/editor/preview/edition?ref={edition}",
)
PAGE_TIMES = 5  # requests a page, after the first (shown apart)


def pages(backend: str, env: dict[str, str], workdir: Path, edition: int) -> list[Step]:
    """Each page of ``PAGES`` on ``mailer serve`` over this database: the median and the slowest
    of ``PAGE_TIMES`` requests, one at a time, signed in as an editor for the editor's pages."""
    script = str(Path(__file__).resolve())
    reader = json.loads(subprocess.run([sys.executable, script, "--child", "reader", str(edition)], env=env, check=True,
                                       capture_output=True, text=True, cwd=workdir).stdout)
    subprocess.run([str(MAILER), "editors", "add", EDITOR[0], "--email", "bench@example.com", "--role", "admin",
                    "--password-stdin"], env=env, check=True, capture_output=True, cwd=workdir,
                   input=f"{EDITOR[1]}\n", text=True)
    folder = workdir / "pages"
    folder.mkdir()
    server, port = start_server(env, folder)
    steps = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
            form = client.get("/editor/login").text
            found = re.search(r'name="csrf" value="([^"]+)"', form)
            if found is None:
                sys.exit("pages: no CSRF field on the login page")
            signed = client.post("/editor/login", data={"name": EDITOR[0], "password": EDITOR[1],
                                                        "csrf": found.group(1)})
            if signed.status_code != 303:
                sys.exit(f"pages: signing in answered {signed.status_code}")
            for page in PAGES:
                path = page.format(edition=edition, **{k: urllib.parse.quote(str(v)) for k, v in reader.items()})
                first = _timed(client, path)  # the page's caches are cold (a preview's SpamAssassin run)
                times = sorted(_timed(client, path) for _ in range(PAGE_TIMES))
                steps.append(Step(f"{backend}-page", times[len(times) // 2], float("nan"),
                                  f"{page} (slowest {1000 * times[-1]:.0f} ms; the first {1000 * first:.0f} ms)"))
    finally:
        stop_server(server)
    return steps


def _timed(client: httpx.Client, path: str) -> float:
    started = time.perf_counter()
    reply = client.get(path)
    seconds = time.perf_counter() - started
    if reply.status_code != 200:
        sys.exit(f"pages: {path} answered {reply.status_code}: {reply.text[:300]}")
    return seconds


# /subscribe under load -------------------------------------------------------------------------


async def load(port: int, requests: int, concurrency: int, offset: int) -> tuple[float, list[int]]:
    """``requests`` JSON subscriptions over ``concurrency`` keep-alive HTTP/1.1 connections. A raw
    asyncio client: httpx costs about a millisecond a request, which on a shared core would make
    the load generator the bottleneck rather than the server."""
    codes: list[int] = []
    bodies = iter(range(requests))

    def request(i: int) -> bytes:
        body = json.dumps({"email": f"load{offset + i}@example{i % 89}.org", "name": f"زائر {i}"}).encode()
        return (f"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in bodies:
                writer.write(request(i))
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                codes.append(status)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started, codes


def start_server(env: dict[str, str], folder: Path,
                 prefix: tuple[str, ...] = ()) -> tuple[subprocess.Popen[bytes], int]:
    """``mailer serve --no-scheduler`` on a free loopback port (``prefix``: e.g. taskset), once it listens."""
    port = free_port()
    argv = [*prefix, str(MAILER), "serve", "--no-scheduler", "--host", "127.0.0.1", "--port", str(port)]
    with (folder / "serve.log").open("wb") as log:
        server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    deadline = time.monotonic() + 60
    while not port_open("127.0.0.1", port):
        if server.poll() is not None or time.monotonic() > deadline:
            stop_server(server)
            sys.exit(f"serve did not start:\n{(folder / 'serve.log').read_text()[-3000:]}")
        time.sleep(0.2)
    return server, port


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def subscribe_load(workdir: Path, requests: int, concurrency: int, spy: Path | None = None) -> list[Step]:
    folder = workdir / "web"
    folder.mkdir()
    db_file = folder / "web.db"
    env = env_for(f"sqlite+aiosqlite:///{db_file}", folder / "data",
                  MAILER_SUBSCRIBE_IP_LIMITS="100000000/minute", MAILER_SUBSCRIBE_GLOBAL_PER_HOUR="100000000")
    sink = None
    if shutil.which("smtp-sink"):  # a relay, as in production; else the development mailbox (it fsyncs each mail)
        sys.path.insert(0, str(Path(__file__).parent))
        from throughput import Sink

        sink = Sink(str(shutil.which("smtp-sink")))
        env["MAILER_SMTP_URL"] = f"smtp://127.0.0.1:{sink.port}"
    taskset = shutil.which("taskset")
    cores = sorted(os.sched_getaffinity(0))
    pin: tuple[str, ...] = ()
    if taskset and len(cores) > 1:
        pin = (taskset, "-c", str(cores[0]))
        os.sched_setaffinity(0, set(cores[1:]))  # the load generator stays off the server's core
    try:
        server, port = start_server(env, folder, pin)
        try:
            warm = min(500, requests)
            asyncio.run(load(port, warm, concurrency, offset=10_000_000))
            _wait_drained(db_file, warm, 120, status="sent")
            recorder = _spy(spy, server.pid) if spy is not None else None
            cpu_before = cpu_seconds(server.pid)
            seconds, codes = asyncio.run(load(port, requests, concurrency, offset=0))
            answered = time.perf_counter()
            bad = [c for c in codes if c != 200]
            if bad:
                sys.exit(f"/subscribe: {len(bad)} answers were not 200 (e.g. {bad[:5]})")
            stored = _wait_drained(db_file, warm + requests, 600)
            stored_at = time.perf_counter() - answered if stored else float("nan")
            sent = _wait_drained(db_file, warm + requests, 600, status="sent")
            sent_at = time.perf_counter() - answered if sent else float("nan")
            cpu = cpu_seconds(server.pid) - cpu_before
            if recorder is not None:
                recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                recorder.wait(60)
        finally:
            stop_server(server)
    finally:
        os.sched_setaffinity(0, set(cores))
        if sink is not None:
            sink.stop()
    with_work = requests / (seconds + sent_at)
    verdict = "met" if with_work >= 500 and requests / seconds >= 500 else "MISSED"
    note = (f"{verdict}: {requests} requests, {concurrency} in flight: {requests / seconds:.0f} req/s answered; "
            f"with the work after them (every subscriber and its confirmation mail stored {stored_at:.1f} s and "
            f"sent {sent_at:.1f} s after the last answer) {with_work:.0f} req/s; "
            f"the server's CPU for all of it: {cpu:.1f} s, {1000 * cpu / requests:.2f} ms a request, "
            f"{requests / cpu:.0f} req/s per core")
    return [Step("sqlite-subscribe", seconds, float("nan"), note, cpu)]


def _spy(folder: Path, pid: int) -> subprocess.Popen[bytes]:
    """py-spy (``pip install py-spy``) on the server for the measured load, as collapsed stacks."""
    tool = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    folder.mkdir(parents=True, exist_ok=True)
    argv = [tool, "record", "-p", str(pid), "-r", "200", "-f", "raw", "--gil", "--function", "--nonblocking",
            "-o", str(folder / "subscribe.txt")]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# where a sample's CPU went: the first group whose marks are on its stack (SQLAlchemy's work
# runs in greenlets whose stacks do not reach their callers, so the database is a group of its own)
SPY_GROUPS = (
    ("compose (render thread)", ("_worker (concurrent/futures/thread.py",)),
    ("sender (claim, SMTP, record)", ("mailer/delivery/sender.py", "mailer/delivery/pipelining.py",
                                      "mailer/delivery/transport.py", "mailer/delivery/outbox.py")),
    ("database (SQLAlchemy, aiosqlite)", ("sqlalchemy/", "aiosqlite/")),
    ("request checks (fields, address, limits)", ("subscribe (mailer/web/subscription.py", "limits/",
                                                  "read_fields", "addresses.py")),
    ("HTTP (uvicorn, starlette, fastapi)", ("uvicorn/", "h11/", "httptools", "starlette/", "fastapi/")),
    ("after the answer, not database", ("mailer/web/subscribing.py", "mailer/core/later.py")),
    ("event loop (asyncio's own)", ("EpollSelector", "_read_from_self", "_write_to_self", "_run_once")),
)


def show_spy(folder: Path, ms_a_request: float, top: int = 25) -> None:
    """Where the server's samples went: by group, in milliseconds of CPU a request, and by frame."""
    groups: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in (folder / "subscribe.txt").read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        total += n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        group = next((name for name, marks in SPY_GROUPS if any(m in f for f in frames for m in marks)), "other")
        groups[group] = groups.get(group, 0) + n
    print(f"\n--- /subscribe server, py-spy, {total} samples holding the GIL: CPU a request by group ---")
    for name, n in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"{100 * n / total:6.1f}%  {ms_a_request * n / total:5.2f} ms  {name}")
    print(f"\n--- top {top} frames by own samples ---")
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{100 * n / total:6.1f}%  {frame}")


def _wait_drained(db_file: Path, expected: int, timeout: float, status: str | None = None) -> bool:
    """Until every request's subscriber and its confirmation mail are stored (with ``status``:
    and that mail is in that status, e.g. sent)."""
    deadline = time.monotonic() + timeout
    query = ("SELECT count(*) FROM outbox WHERE kind = 'confirm' AND status = ?" if status
             else "SELECT count(*) FROM outbox WHERE kind = 'confirm'")
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(db_file, timeout=5) as conn:
                mails = conn.execute(query, (status,) if status else ()).fetchone()[0]
        except sqlite3.OperationalError:
            mails = 0
        if mails >= expected:
            return True
        time.sleep(0.05)
    return False


# report ----------------------------------------------------------------------------------------


GOALS = {"import": 60.0, "export": 20.0, "plan": 30.0}


def measure(count: int, pg: str | None, requests: int, concurrency: int = 32, only: str | None = None,
            profile: Path | None = None, spy: Path | None = None) -> list[Step]:
    """Every step of the subscriber side at ``count`` rows (``only``: one half), each in a fresh
    process; ``bench/throughput.py --scale`` runs this too, after the send figures."""
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        if only != "subscribe":
            work = Path(tmp) / "sqlite"
            work.mkdir()
            steps += subscriber_side("sqlite", f"sqlite+aiosqlite:///{work / 'bench.db'}", count, work,
                                     profile)
            if pg:
                work = Path(tmp) / "pg"
                work.mkdir()
                url = asyncio.run(create_pg(pg, "bench_scale"))
                try:
                    steps += subscriber_side("postgresql", url, count, work, profile)
                finally:
                    asyncio.run(drop_pg(pg, url))
        if only != "subscribers":
            steps += subscribe_load(Path(tmp), requests, concurrency, spy)
    return steps


def show(steps: list[Step], count: int) -> None:
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work slows the wall times)")
    print(f"{'step':18} {'seconds':>8} {'CPU s':>6} {'rows/s':>10} {'peak RSS':>9}  goal")
    for s in steps:
        kind = s.name.split("-")[1]
        if kind == "page":
            continue
        if kind == "subscribe":
            print(f"{s.name:18} {s.seconds:8.1f} {s.cpu:6.1f} {'':>10} {'':>9}  >= 500 req/s on one core: {s.note}")
            continue
        # the goal is for a million rows: at a smaller --scale, the rate it needs
        need = 1_000_000 / GOALS[kind]
        verdict = "met" if count / s.seconds >= need else "MISSED"
        print(f"{s.name:18} {s.seconds:8.1f} {s.cpu:6.1f} {count / s.seconds:10.0f} {s.rss_mb:7.0f}MB  "
              f"1M in < {GOALS[kind]:.0f} s ({need:.0f}/s) {verdict}" + (f"  ({s.note})" if s.note else ""))
    shown = [s for s in steps if s.name.endswith("-page")]
    if shown:
        print(f"\npages with {count} subscribers and a (paused) edition to all of them, one request at a time "
              f"(median of {PAGE_TIMES} after the first):")
        for s in shown:
            print(f"{s.name.split('-')[0]:11} {1000 * s.seconds:7.0f} ms  {s.note}")


def show_profiles(profile: Path) -> None:
    for prof in sorted(profile.glob("*.prof")):
        print(f"\n--- {prof.stem}: top 12 by own time ---")
        stats = pstats.Stats(str(prof))
        stats.sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=1_000_000, help="subscribers to import, export and plan for")
    parser.add_argument("--pg", help="a PostgreSQL server URL to measure on too (a database is created)")
    parser.add_argument("--requests", type=int, default=5000, help="POST /subscribe requests (bounded)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--only", choices=("subscribers", "subscribe"), help="run one half only")
    parser.add_argument("--profile", type=Path, help="also write cProfile files here and print their top")
    parser.add_argument("--spy", type=Path, help="record the /subscribe server with py-spy into this folder")
    parser.add_argument("--child", choices=("prepare", "plan", "reader"), help=argparse.SUPPRESS)
    parser.add_argument("child_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(reader_child(int(args.child_args[0])) if args.child == "reader" else
                    prepare_child() if args.child == "prepare" else plan_child())
        return
    if args.profile:
        args.profile = args.profile.resolve()
        args.profile.mkdir(parents=True, exist_ok=True)
    steps = measure(args.scale, args.pg, args.requests, args.concurrency, args.only, args.profile, args.spy)
    show(steps, args.scale)
    if args.profile:
        show_profiles(args.profile)
    if args.spy:
        served = [s for s in steps if s.name.endswith("-subscribe")]
        if served:
            show_spy(args.spy, 1000 * served[0].cpu / args.requests)


if __name__ == "__main__":
    main()
