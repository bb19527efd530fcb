"""The rules of every ``CRMSYNC`` setting, as problems with check ids (see ``base``)."""

from . import core, credentials, schema, write_mode  # noqa: F401  (register their rules)
from .base import ERROR, IDS, RULES, WARNING, Problem, redact_url, type_problem

__all__ = ["ERROR", "IDS", "RULES", "WARNING", "Problem", "redact_url", "type_problem"]
