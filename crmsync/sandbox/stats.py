"""Counters the tests and benchmarks read back."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
            self._rate_limited: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._records: Counter[str] = Counter()

    def request(self, endpoint: str, status: int | str) -> None:
        with self._lock:
            self._requests[endpoint][str(status)] += 1

    def rate_limited(self, policy: str) -> None:
        with self._lock:
            self._rate_limited[policy] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def records(self, what: str, count: int) -> None:
        if count:
            with self._lock:
                self._records[what] += count

    def snapshot(self, max_in_window: int, daily_used: int) -> dict[str, Any]:
        with self._lock:
            by_endpoint = {name: dict(codes) for name, codes in self._requests.items()}
            by_status: Counter[str] = Counter()
            for codes in self._requests.values():
                by_status.update(codes)
            return {
                "requests_total": sum(by_status.values()),
                "requests_by_endpoint": by_endpoint,
                "requests_by_status": dict(by_status),
                "rate_limited_total": sum(self._rate_limited.values()),
                "rate_limited": dict(self._rate_limited),
                "max_requests_in_window": max_in_window,
                "daily_used": daily_used,
                "records_created": self._records["created"],
                "records_updated": self._records["updated"],
                "records_archived": self._records["archived"],
                "associations_created": self._records["associations_created"],
                "associations_archived": self._records["associations_archived"],
                "faults_total": sum(self._faults.values()),
                "faults": dict(self._faults),
            }
