"""The operator's actions on contacts (the admin's buttons), at the service layer.

``rows``: what each action does to a row, in chunks of one short UPDATE each, with a history
note per row changed. ``bulk``: a large selection recorded as a ``BulkJob`` and done by a
task. ``settle``: a held contact linked to a HubSpot id, or looked up in HubSpot. The admin
reaches them through ``crmsync.services``.
"""

from .bulk import record_bulk_job, run_bulk_job
from .rows import OPERATIONS, Operation, apply_operation
from .settle import Candidate, LookupResult, look_up_in_hubspot, sent_properties, settle_with_id

__all__ = [
    "OPERATIONS",
    "Candidate",
    "LookupResult",
    "Operation",
    "apply_operation",
    "look_up_in_hubspot",
    "record_bulk_job",
    "run_bulk_job",
    "sent_properties",
    "settle_with_id",
]
