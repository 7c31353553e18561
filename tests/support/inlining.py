"""Counting premailer's runs, and where they ran: tests patch ``Premailer.transform`` in this
process (so the render threads must be threads, not processes) and look at each call's thread."""

from __future__ import annotations

import threading

import pytest


def premailer_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread of each premailer run from now on, in order."""
    import premailer

    names: list[str] = []
    original = premailer.Premailer.transform

    def recording(self: premailer.Premailer, *args: object, **kwargs: object) -> str:
        names.append(threading.current_thread().name)
        return original(self, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(premailer.Premailer, "transform", recording)
    return names


def off_loop(names: list[str]) -> bool:
    """Whether every run was in a render thread (``mailer.core.offload``), none on the loop's."""
    return all(name.startswith("render") for name in names)
