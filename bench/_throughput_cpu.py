"""Where the machine's CPU went during one part of ``bench.throughput``.

Samples ``/proc/<pid>/stat`` of every process (user + system time) a few times a second and
sums, per group, the CPU each process used since the first sample (all of it, for a process
born later). A process that exits between two samples loses at most one interval's CPU.
``/proc/stat`` gives the machine's total, so what no group claims shows up too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

_HZ = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rpartition(")")[2].split()
    # After the command name: state is fields[0]; utime and stime are stat fields 14 and 15.
    return int(fields[11]) + int(fields[12])


def _busy_ticks() -> int:
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(x) for x in parts]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values[:8]) - idle


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


class CpuMeter:
    def __init__(self, group_of: Callable[[int, str], str]) -> None:
        self.group_of = group_of
        self.baseline: dict[int, int] = {}
        self.last: dict[int, tuple[str, int]] = {}
        self.busy_start = _busy_ticks()
        self.busy_end = self.busy_start
        for pid in _pids():
            ticks = _ticks(pid)
            if ticks is not None:
                self.baseline[pid] = ticks
                self.last[pid] = (self.group_of(pid, _cmdline(pid)), ticks)

    def sample(self) -> None:
        for pid in _pids():
            ticks = _ticks(pid)
            if ticks is None:
                continue
            known = self.last.get(pid)
            group = known[0] if known else self.group_of(pid, _cmdline(pid))
            self.last[pid] = (group, ticks)
        self.busy_end = _busy_ticks()

    def seconds(self) -> dict[str, float]:
        """CPU seconds per group, plus ``machine`` (everything /proc/stat counted)."""
        out: dict[str, float] = {}
        for pid, (group, ticks) in self.last.items():
            used = ticks - self.baseline.get(pid, 0)
            out[group] = out.get(group, 0.0) + used / _HZ
        out["machine"] = (self.busy_end - self.busy_start) / _HZ
        return out


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]
