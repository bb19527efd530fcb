"""The benchmark's registration of ``tests.hostapp.Customer`` (see ``hubspot.py``)."""
