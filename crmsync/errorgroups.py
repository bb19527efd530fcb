"""The shape of an error message, so that errors differing only in a value group together.

HubSpot names the offending value in its messages (``"ada@example" is an invalid email``, ``
Property "x" does not exist``, ids, counts): grouped by the exact text, a thousand invalid emails
are a thousand groups of one. :func:`pattern` replaces each value by a placeholder (a quoted
string by ``"…"``, an email by ``<email>``, a number by ``#``); :func:`regex` turns a pattern
back into a regular expression that matches every message of that shape (PostgreSQL's and
Python's dialects alike, so the admin can filter by it on either database); :data:`SQL_STEPS`
are the same replacements for ``regexp_replace`` in PostgreSQL, so the database groups
millions of rows without sending them here. Pure functions; nothing here knows Django.
"""

from __future__ import annotations

import re

#: (what, placeholder, regex matching one value), applied in this order: a quoted email
#: is a quoted string, and a number inside an email stays part of it.
_RULES = (
    ('"[^"]*"', '"…"', '"[^"]*"'),
    ("'[^']*'", "'…'", "'[^']*'"),
    ("[^\\s@\"']+@[^\\s@\"']+", "<email>", "[^\\s@\"']+@[^\\s@\"']+"),
    ("[0-9]+", "#", "[0-9]+"),
)
#: The patterns a message may not exceed (a longer one is cut; its regex then matches a prefix).
MAX_PATTERN = 500
#: ``regexp_replace(text, find, placeholder, 'g')`` steps, in order (PostgreSQL).
SQL_STEPS = tuple((find, placeholder) for find, placeholder, _ in _RULES)
_COMPILED = tuple((re.compile(find), placeholder) for find, placeholder, _ in _RULES)
_SPLIT = re.compile("(" + "|".join(re.escape(placeholder) for _, placeholder, _ in _RULES) + ")")
_VALUE = {placeholder: value for _, placeholder, value in _RULES}


def pattern(message: str) -> str:
    """``Property "x" is 3 long`` -> ``Property "…" is # long``."""
    for find, placeholder in _COMPILED:
        message = find.sub(placeholder, message)
    return message[:MAX_PATTERN]


def regex(shape: str) -> str:
    """An anchored regular expression matching every message whose :func:`pattern` is
    ``shape`` (a prefix match when the shape was cut at :data:`MAX_PATTERN`)."""
    parts = [_VALUE.get(part) or re.escape(part) for part in _SPLIT.split(shape) if part]
    return "^" + "".join(parts) + ("" if len(shape) >= MAX_PATTERN else "$")
