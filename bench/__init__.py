"""crmsync's benchmark and chaos harness, run as modules from the project's folder:
``python -m bench.throughput``, ``python -m bench.chaos``, ``python -m bench.sandbox_speed``.
What they share is in ``bench.common``."""
