"""``crmsync_doctor``: will crmsync work here? Small read-only checks, one line each.

Each check is a function returning one :class:`Check` (``OK`` / ``WARN`` / ``FAIL``, a message
and, when not OK, the fix). Nothing here changes a row or writes to HubSpot: the HubSpot checks
make three reads (a contact page, the token's info, the property definitions) with a short
timeout on a client of their own, outside the shared rate limiter, so the doctor answers even
with Redis down. A check that cannot run is a FAIL with the reason, never a traceback, and the
token never appears in what it says (:func:`run` masks it).
"""

from __future__ import annotations

from .base import FAIL, OK, WARN, Check, Context, run

__all__ = ["FAIL", "OK", "WARN", "Check", "Context", "run"]
