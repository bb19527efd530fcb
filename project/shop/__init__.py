"""The demo project's own app: a ``Customer`` model that crmsync syncs as a registered host
model (``hubspot.py``), as a host project's would be."""
