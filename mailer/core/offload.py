"""CPU-heavy pure work off the event loop. Jinja2 rendering, premailer and building a variant's
message take tens to hundreds of milliseconds, while the same loop drives other batches' SMTP
sessions and answers web requests.

A thread, not a process: the work is a pure function of objects that do not pickle (the Jinja2
environment and its compiled templates), its results are large strings a process would copy
back, it runs once per variant rather than once per message, and tests count premailer's calls
by patching it in this process. The thread holds the GIL for most of the work, but CPython makes
it hand the GIL over every ``sys.getswitchinterval()`` (5 ms), so the loop keeps turning, a
little slower while a render is under way. Only a single C call that keeps the GIL throughout
stalls the loop from a thread: Babel's first load of its locale data is one, so it happens at
start-up (``Renderer.warm``).

Our own one-thread pool rather than asyncio's default executor (DKIM's ``SigningPool`` keeps its
own too): renders queue behind each other instead of competing with the loop for the GIL however
many requests ask at once, and never queue in front of the default executor's short jobs (name
lookups, file reads). One thread, since the GIL runs one render at a time anyway: measured here,
four 20-article digests took 130 ms on one thread and 150 ms on two, and the loop's largest gap
was no smaller with two.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

WORKERS = 1
_pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="render")


async def off_loop(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a render thread; context variables go along, as with
    ``asyncio.to_thread``."""
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_pool, call)
