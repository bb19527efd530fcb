"""crmsync's own signals, for host projects. crmsync sends them; it does not listen to them
(the save hook that queues contacts is in ``crmsync.receivers``).

All are sent after the write-back commits, once per batch, never once per row:

- ``contact_synced(sender=Contact, contact_ids=[...])``: rows now synced (created, updated or
  linked to an existing HubSpot contact).
- ``contact_sync_failed(sender=Contact, contact_ids=[...])``: rows failed for good.
- ``pipeline_paused(sender=PipelineState, reason=..., message=...)``: sending stopped
  (authentication, scopes, daily limit).
"""

from __future__ import annotations

from django.dispatch import Signal

contact_synced = Signal()
contact_sync_failed = Signal()
pipeline_paused = Signal()
