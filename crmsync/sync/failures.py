"""Stage 2d, a request without a usable answer: stop everything (401, 403, an endpoint
HubSpot lacks, the daily limit), or decide every row it carried: retry later, or, when the
answer was lost after sending, look the contact up before creating it again."""

from __future__ import annotations

from collections.abc import Sequence

from ..exceptions import (
    EndpointNotFoundError,
    HubSpotError,
    OutcomeUnknownError,
    PipelineHaltError,
    RateLimitedError,
)
from ..ratelimit import DailyLimitExhaustedError
from . import outcomes, pipeline
from .batch import Batch, Record
from .plan import Input


def unknown(batch: Batch, item: Input, message: str, record: Record) -> None:
    """The create may have happened: look it up before the next try, or hold it."""
    key = batch.create_key if item.primary.sync_key else ""
    for row in item.rows:
        decision = outcomes.unknown(row, item.email, message, batch.policy, key=key)
        batch.decide(row, decision, record)


def request_failed(
    batch: Batch, items: Sequence[Input], error: HubSpotError, record: Record
) -> None:
    """No usable answer for the whole request: stop everything (401, 403, the daily
    limit), or decide every row it carried (retry later, or look up before creating)."""
    if isinstance(error, PipelineHaltError | EndpointNotFoundError):
        raise error  # no request will succeed: the run stops, rows untouched
    if isinstance(error, RateLimitedError) and error.is_daily:
        raise DailyLimitExhaustedError(pipeline.exhaust_daily(batch.conf))
    if isinstance(error, OutcomeUnknownError):
        for item in items:
            unknown(batch, item, str(error), record)
        return
    # The rolling window is a wait, not a failure: no attempt is counted.
    rolling = isinstance(error, RateLimitedError)
    wait = error.retry_after
    if rolling:
        wait = wait or batch.conf.RATE_LIMIT_INTERVAL_SECONDS / 2
    for item in items:
        for row in item.rows:
            batch.retry(row, str(error), error.category, record, count=not rolling, wait=wait)
