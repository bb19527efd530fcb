"""``crmsync_sync --progress``: a tqdm bar on stderr, fed by ``sync_pending``'s callback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from tqdm import tqdm

from crmsync import services

#: --progress (draw when stderr is a terminal) and --progress=always (draw anyway).
MODES = ("auto", "always")


@contextmanager
def progress_bar(mode: str | None, stream: IO[str]) -> Iterator[services.Progress | None]:
    """The callback for ``sync_pending`` (None: no bar). ``auto`` draws only on a terminal,
    so a log file or a pipe gets no carriage returns."""
    if mode is None:
        yield None
        return
    bar = tqdm(
        total=services.count_waiting(),
        unit="row",
        desc="crmsync",
        file=stream,
        disable=False if mode == "always" else None,  # None: off unless stream is a TTY
        mininterval=0.5,
        smoothing=0.1,
    )
    lock = threading.Lock()  # batches are written back from CONCURRENCY threads
    totals = services.RunSummary()

    def advance(part: services.RunSummary) -> None:
        with lock:
            totals.add(part)
            bar.update(part.synced + part.failed + part.retrying + part.held)
            bar.set_postfix(_postfix(totals), refresh=False)

    try:
        yield advance
    finally:
        bar.close()


def _postfix(totals: services.RunSummary) -> dict[str, Any]:
    return {"synced": totals.synced, "failed": totals.failed, "retry": totals.retrying}
