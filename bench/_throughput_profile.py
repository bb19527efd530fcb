"""Read a py-spy ``--format raw`` profile (collapsed stacks) into crmsync's hot spots.

Used by ``python -m bench.throughput --profile``. Each line of the file is one distinct stack,
outermost frame first, frames separated by ``;``, then the number of samples. A frame reads
``function (path/to/file.py:line)``, or ``function (path/to/file.py)`` with ``--nolineno``.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from pathlib import Path

_FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")


@dataclass
class HotSpots:
    samples: int
    #: crmsync function -> samples with it anywhere on the stack (counted once per stack).
    inclusive: collections.Counter[str]
    #: crmsync function -> samples where it is the innermost crmsync frame: its own code
    #: plus the library code it calls directly (Django, psycopg, requests, json...).
    attributed: collections.Counter[str]
    #: any function -> samples where it is the innermost frame (the CPU is in it).
    leaf: collections.Counter[str]


def _name(frame: str) -> tuple[str, str]:
    match = _FRAME_RE.match(frame)
    if not match:
        return frame, ""
    path = match.group("file")
    short = path.split("site-packages/")[-1].split("lib/python3")[-1]
    return f"{match.group('func')} ({short})", path


def _is_crmsync(path: str) -> bool:
    return "crmsync/" in path and "crmsync/sandbox/" not in path


def read(path: Path) -> HotSpots:
    inclusive: collections.Counter[str] = collections.Counter()
    attributed: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        leaf[frames[-1][0]] += count
        seen: set[str] = set()
        innermost = ""
        for name, file in frames:
            if _is_crmsync(file):
                innermost = name
                if name not in seen:
                    seen.add(name)
                    inclusive[name] += count
        if innermost:
            attributed[innermost] += count
    return HotSpots(total, inclusive, attributed, leaf)


def report(spots: HotSpots, top: int = 12) -> list[str]:
    """Lines of text: the top crmsync functions, inclusive and attributed, and top leaves."""
    if not spots.samples:
        return ["(no samples)"]

    def share(n: int) -> str:
        return f"{100 * n / spots.samples:5.1f} %"

    lines = [f"{spots.samples} samples"]
    lines.append("crmsync functions, inclusive (on the stack):")
    lines += [f"  {share(n)}  {name}" for name, n in spots.inclusive.most_common(top)]
    lines.append("crmsync functions, attributed (innermost crmsync frame, incl. direct calls):")
    lines += [f"  {share(n)}  {name}" for name, n in spots.attributed.most_common(top)]
    lines.append("innermost frames (any module):")
    lines += [f"  {share(n)}  {name}" for name, n in spots.leaf.most_common(top)]
    return lines
