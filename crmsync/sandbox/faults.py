"""Seeded fault injection.

Each kind of fault draws from its own generator, seeded from ``seed`` and the kind's name, and
draws once per eligible request whatever its rate. So the n-th request meets the same faults
in every run with the same seed, and changing one rate does not shift the others' sequences.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from .config import SandboxConfig

KINDS = ("5xx", "423", "477", "drop_after_commit", "slow_after_commit", "shuffle")
_5XX_STATUSES = (502, 503, 504)


class FaultPlan:
    """What the faults decided for one request."""

    __slots__ = ("after_commit", "before_work")

    def __init__(self, before_work: int | None, after_commit: str | None) -> None:
        #: A status to answer at once, doing no work (502/503/504/423/477), or None.
        self.before_work = before_work
        #: "drop" or "slow" once the records are written, or None.
        self.after_commit = after_commit


NO_FAULTS = FaultPlan(None, None)


class FaultInjector:
    def __init__(self, seed: int) -> None:
        self._lock = threading.Lock()
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._seed = seed
            self._rngs = {kind: random.Random(f"{seed}:{kind}") for kind in KINDS}

    @property
    def seed(self) -> int:
        return self._seed

    def plan(self, config: SandboxConfig) -> FaultPlan:
        rngs = self._rngs
        with self._lock:
            draw_5xx = rngs["5xx"].random()
            which_5xx = rngs["5xx"].choice(_5XX_STATUSES)
            draw_423 = rngs["423"].random()
            draw_477 = rngs["477"].random()
            draw_drop = rngs["drop_after_commit"].random()
            draw_slow = rngs["slow_after_commit"].random()
        before: int | None = None
        if draw_5xx < config.fault_5xx_rate:
            before = which_5xx
        elif draw_423 < config.fault_423_rate:
            before = 423
        elif draw_477 < config.fault_477_rate:
            before = 477
        after: str | None = None
        if draw_drop < config.drop_after_commit_rate:
            after = "drop"
        elif draw_slow < config.slow_after_commit_rate:
            after = "slow"
        if before is None and after is None:
            return NO_FAULTS
        return FaultPlan(before, after)

    def shuffle(self, items: list[Any]) -> None:
        # Sorting on random keys: a uniform permutation at a fraction of random.shuffle's cost.
        with self._lock:
            keys = iter([self._rngs["shuffle"].random() for _ in items])
        items.sort(key=lambda _: next(keys))
