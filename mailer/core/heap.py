"""Keep what a long-running process built at start-up out of the garbage collector's full passes.

A full (generation 2) collection walks every tracked object and holds the GIL for every thread
while it does: one started in the render thread stalls the event loop all the same (69 ms in
`tests/mailer/compose/test_render_off_loop.py` with 200,000 objects, mostly modules, the ORM's
mappers, templates and Babel's locale data, none of which ever becomes garbage). ``gc.freeze``
moves them to a permanent generation that collections skip, as the `gc` documentation suggests
for long-lived start-up state; later garbage is collected as before."""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup() -> int:
    """Collect once, then freeze what is left; returns how many objects were frozen. Called by
    the long-running processes (``serve``, ``worker``, sender helpers) once they have started."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("%d start-up objects kept out of full garbage collections", frozen)
    return frozen
