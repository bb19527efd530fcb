"""The operator's view of crmsync in the Django admin, a module per page.

Nothing here calls HubSpot inside a request: actions change rows or enqueue work.
"""

from . import bulkjobs, contacts, dashboard, history, pipeline

__all__ = ["bulkjobs", "contacts", "dashboard", "history", "pipeline"]
