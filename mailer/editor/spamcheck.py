"""Scores a message with SpamAssassin when it is installed: local tests only, no network, no
learning, in a subprocess with a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import signal
from dataclasses import dataclass
from typing import Literal

# -L: local tests only (no DNS or network); -t: test mode, adds the report; -x: no user prefs file
ARGS = ("-L", "-t", "-x", "--cf=use_bayes 0", "--cf=bayes_auto_learn 0")

_STATUS = re.compile(r"^X-Spam-Status:\s*(\w+),\s*score=(-?[\d.]+)\s+required=(-?[\d.]+)", re.M)
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")


@dataclass(frozen=True)
class Rule:
    name: str
    points: float
    description: str


@dataclass(frozen=True)
class SpamResult:
    status: Literal["scored", "missing", "timeout", "failed"]
    score: float | None = None
    required: float | None = None
    rules: tuple[Rule, ...] = ()
    detail: str = ""

    @property
    def is_spam(self) -> bool:
        return self.score is not None and self.required is not None and self.score >= self.required


def parse_report(output: str) -> SpamResult:
    """The score, the threshold and the rules that fired, from ``spamassassin -t`` output."""
    unfolded = re.sub(r"\r?\n[ \t]+", " ", output)
    status = _STATUS.search(unfolded)
    if status is None:
        return SpamResult("failed", detail="no X-Spam-Status header in the output")
    rules: list[Rule] = []
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("pts rule name")), None)
    if start is not None:
        for line in lines[start + 2 :]:
            if not line.strip():
                break
            match = _RULE.match(line)
            if match:
                rules.append(Rule(match.group(2), float(match.group(1)), match.group(3).strip()))
            elif rules and line.startswith(" "):  # a description wrapped onto the next line
                last = rules[-1]
                rules[-1] = Rule(last.name, last.points, f"{last.description} {line.strip()}")
    return SpamResult("scored", float(status.group(2)), float(status.group(3)), tuple(rules))


async def spam_score(message: bytes, command: str, timeout: float) -> SpamResult:
    """Run ``command`` (``spamassassin`` or a path to it) on ``message``; never raises."""
    argv = shlex.split(command)
    if not argv or shutil.which(argv[0]) is None:
        return SpamResult("missing", detail=f"{command or 'spamassassin'!r} is not installed")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, *ARGS,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout ends its children too
        )
    except OSError as exc:
        return SpamResult("failed", detail=str(exc))
    try:
        out, err = await asyncio.wait_for(proc.communicate(message), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        return SpamResult("timeout", detail=f"no answer within {timeout:g} s")
    if proc.returncode != 0:
        return SpamResult("failed", detail=err.decode(errors="replace")[-500:])
    return parse_report(out.decode(errors="replace"))
