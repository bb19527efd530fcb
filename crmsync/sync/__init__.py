"""The sync path, one stage per module (docs/architecture.md walks through it):

- ``run``: the entry points (``sync_pending``, ``sync_batch``, ``release_expired_leases``);
- ``plan``: a claimed batch -> creates, updates, lookups first;
- ``send`` and ``calls``: the HubSpot requests and the isolation of rejections;
- ``matching``: HubSpot's answers -> inputs (pure);
- ``outcomes``: each row's new state (pure);
- ``batch``: what one batch has decided so far; ``writeback``: applying it, fenced;
- ``pipeline``: pause, resume, the daily limit.
"""
