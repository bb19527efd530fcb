"""The outbound contact queue and its sync history.

Ownership of columns is split on purpose. The host project writes the contact's data (email,
names, properties...). Only the service layer writes the sync-state columns, always with
``QuerySet.update`` fenced by the claim token, so a ``save()`` from a stale instance never
clobbers a sync result (see ``Contact.save``).
"""

from .bulkjob import BulkJob
from .contact import Contact, ContactQuerySet, SyncAction, SyncStatus
from .credentials import SharedToken
from .heartbeat import Dashboard, WorkerHeartbeat
from .history import SyncAttempt, SyncBatch
from .pipeline import PipelineState
from .tracking import PROPERTY_COLUMNS, SYNCED_FIELDS

__all__ = [
    "PROPERTY_COLUMNS",
    "SYNCED_FIELDS",
    "BulkJob",
    "Contact",
    "ContactQuerySet",
    "Dashboard",
    "PipelineState",
    "SharedToken",
    "SyncAction",
    "SyncAttempt",
    "SyncBatch",
    "SyncStatus",
    "WorkerHeartbeat",
]
