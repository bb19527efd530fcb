"""Loaded (through PYTHONPATH) only by bench.hosts's workers whose clock is skewed.

libfaketime 0.9.10 (Debian 12) with ``FAKETIME_DONT_FAKE_MONOTONIC=1`` makes
``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``, which ``time.sleep`` uses, fail with
EINVAL; without that variable, every timed ``threading`` wait hangs instead. So the monotonic
clock stays real and ``time.sleep`` waits on an Event (a condition wait, which works): the
wall clock, which is what a skewed host gets wrong, is still off by the offset.
"""

import threading
import time
from typing import SupportsIndex


def _sleep(seconds: "float | SupportsIndex") -> None:
    if float(seconds) < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(float(seconds))


time.sleep = _sleep
