"""Start-up objects are kept out of full garbage collections, and later garbage is still collected."""

from __future__ import annotations

import gc
import weakref

from mailer.core.heap import freeze_startup


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_startup_objects_leave_the_collected_generations_and_later_cycles_are_still_freed() -> None:
    kept = Node()
    try:
        assert freeze_startup() > 0
        assert not any(o is kept for o in gc.get_objects(generation=2))  # frozen, not walked
        later = Node()
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
    assert any(o is kept for o in gc.get_objects(generation=2))
