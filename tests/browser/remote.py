"""Playwright on a thread of its own, called from the test as if it were its sync API.

Why not Playwright's sync API: it keeps an asyncio loop marked running on the thread that
started it for as long as the browser lives, and Django then refuses every ORM call on that
thread (``SynchronousOnlyOperation``): the test's own setup, and with a session-wide browser
every other test of the run too. Here the loop runs on a "playwright" thread; the test's
thread has no loop, so the ORM works as anywhere else in the suite.

``Remote`` wraps any Playwright object of the async API: an attribute is read, and a method
called, on the Playwright thread (awaited there if it is a coroutine), and what comes back
is wrapped again. So ``page.locator("h1").inner_text()`` reads as in the sync API.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

#: The longest one call may take; Playwright's own timeouts (5 s a step, set per context)
#: end almost every call long before.
CALL_TIMEOUT_SECONDS = 60.0


class PlaywrightThread:
    """An asyncio loop on a daemon thread that runs every Playwright call."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="playwright", daemon=True)
        self.thread.start()

    def run(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async def call() -> Any:
            result = function(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        future = asyncio.run_coroutine_threadsafe(call(), self.loop)
        return future.result(timeout=CALL_TIMEOUT_SECONDS)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class Remote:
    """A Playwright object used from the test's thread (see the module's docstring)."""

    __slots__ = ("_obj", "_runner")

    def __init__(self, obj: Any, runner: PlaywrightThread) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_runner", runner)

    def __getattr__(self, name: str) -> Any:
        value = self._runner.run(getattr, self._obj, name)
        if callable(value) and not _is_playwright(value):
            return lambda *args, **kwargs: self._call(value, args, kwargs)
        return _wrap(value, self._runner)

    def _call(self, method: Callable[..., Any], args: Any, kwargs: dict[str, Any]) -> Any:
        args = tuple(_unwrap(a) for a in args)
        kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        return _wrap(self._runner.run(method, *args, **kwargs), self._runner)

    def __repr__(self) -> str:
        return f"Remote({self._obj!r})"


def expect(target: Remote, **options: Any) -> Remote:
    """Playwright's ``expect`` (its retrying assertions) for a ``Remote`` locator or page."""
    from playwright.async_api import expect as async_expect

    return Remote(target._runner.run(async_expect, target._obj, **options), target._runner)


def navigate(page: Remote, method: str, *args: Any, **kwargs: Any) -> None:
    """``page.<method>(*args)`` (a click that submits a form or follows a link), then wait
    until the page it leads to has loaded: what the test reads next is the new page."""

    async def act(target: Any) -> None:
        async with target.expect_navigation():
            await getattr(target, method)(*args, **kwargs)

    page._runner.run(act, page._obj)


def _is_playwright(value: Any) -> bool:
    return type(value).__module__.startswith("playwright.")


def _wrap(value: Any, runner: PlaywrightThread) -> Any:
    if isinstance(value, list | tuple):
        return type(value)(_wrap(v, runner) for v in value)
    return Remote(value, runner) if _is_playwright(value) else value


def _unwrap(value: Any) -> Any:
    return value._obj if isinstance(value, Remote) else value
