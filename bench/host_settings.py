"""Settings of ``bench.host_models``'s child processes: the test run's settings (the project's
plus the host app ``tests.hostapp``, a ``Customer`` with a ``Company``) and
``bench.host_registration``, whose ``hubspot.py`` registers that ``Customer`` with crmsync.

A save that changes a mapped field nudges a worker through Celery: the bench's nudges go to a
queue of their own (``BENCH_CELERY_QUEUE``), which the bench deletes at the end, so no other
Celery worker on the same Redis picks them up."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.host_registration"]
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "crmsync-bench-host")
