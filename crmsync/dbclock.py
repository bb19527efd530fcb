"""The one clock: every lease deadline, due time and expiry comparison is the database's.

Workers run on many hosts whose clocks drift; the database is the one place they share. So
crmsync never writes a worker's ``timezone.now()`` into a lease or a due time, nor compares
one with them: the statements themselves read the database's clock, and a worker passes
only intervals ("a lease of 300 s", "retry in 12.5 s").

PostgreSQL: ``statement_timestamp()``, as Django's ``Now()``. It is one value for the whole
statement (every row of a claim gets the same deadline, and the due test does not move while
the statement scans), and it is current at each statement even inside a longer transaction,
where ``now()`` is the transaction's start. ``clock_timestamp()`` changes during a statement.

SQLite (one host, its clock is the process's): ``strftime('%Y-%m-%d %H:%M:%f', 'now')``, as
Django's ``Now()``, which is one value per statement too. It gives UTC text with milliseconds;
Django stores datetimes as UTC text ``YYYY-MM-DD HH:MM:SS[.ffffff]``, so the two compare
correctly as text (to the millisecond).

The fragments are for raw SQL run *with* parameters: ``%`` is doubled.
"""

from __future__ import annotations

_SQLITE_FORMAT = "'%%Y-%%m-%%d %%H:%%M:%%f'"


def now_sql(vendor: str) -> str:
    """The database's now, as an SQL expression."""
    if vendor == "postgresql":
        return "statement_timestamp()"
    return f"strftime({_SQLITE_FORMAT}, 'now')"


def later_sql(vendor: str, seconds: str) -> str:
    """The database's now plus ``seconds`` (an SQL expression: one placeholder or a column
    of seconds, fractions allowed; used once). Not for NULL seconds."""
    if vendor == "postgresql":
        return f"(statement_timestamp() + ({seconds}) * interval '1 second')"
    # printf: a REAL as text may read "1.0e-05", which no modifier accepts
    return f"strftime({_SQLITE_FORMAT}, 'now', printf('%%.6f', {seconds}) || ' seconds')"
