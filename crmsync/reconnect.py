"""A statement tried once more on a fresh connection when the one it ran on died."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

T = TypeVar("T")


def once_more_if_disconnected(statement: Callable[[], T]) -> T:
    """``statement()``, and once more on a fresh connection when this one died meanwhile (a
    failover, a pooler restart, ``pg_terminate_backend``). Inside a caller's transaction the
    error is raised: a fresh connection cannot finish it."""
    try:
        return statement()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise
        connection.close()
    return statement()
