"""CPU time of processes from Linux's /proc, for the benchmarks beside it (``python bench/X.py``
puts this folder on the path): a server's under load, smtp-sink's, a process tree's."""

from __future__ import annotations

import os
from pathlib import Path


def _stat(pid: int | str) -> tuple[int, float]:
    """A process's parent and the user and system seconds it has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system time of a running process."""
    return _stat(pid)[1]


def tree_cpu() -> dict[int, float]:
    """The CPU seconds of this process and of each living descendant (sending helpers, their
    DKIM signing processes), by pid."""
    found: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = _stat(entry.name)
            except (OSError, IndexError):  # gone meanwhile
                continue
    tree = {os.getpid()}
    grew = True
    while grew:
        more = {pid for pid, (parent, _) in found.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return {pid: found[pid][1] for pid in tree if pid in found}


def machine_idle() -> tuple[int, int, int]:
    """The whole machine's idle, stolen (by the hypervisor) and total jiffies so far: their
    changes over a run say whether it had CPU to spare, and how much the host took."""
    # cpu  user nice system idle iowait irq softirq steal ...
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return fields[3] + fields[4], fields[7], sum(fields)
