"""The rules of every ``CRMSYNC`` setting, as problems with check ids (see ``base``)."""

from . import core  # noqa: F401  (registers its rules)
from .base import ERROR, IDS, RULES, WARNING, Problem, redact_url, type_problem

__all__ = ["ERROR", "IDS", "RULES", "WARNING", "Problem", "redact_url", "type_problem"]
