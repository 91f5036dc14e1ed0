"""The conversation's background tasks, tracked so that none outlives it and none fails unheard."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TrackedTasks:
    """``on_failure(exc)`` hears of a task spawned with ``report=True`` that raised (nobody awaits
    it); awaited tasks report through their awaiter."""

    def __init__(self, on_failure: Callable[[BaseException], None]) -> None:
        self.on_failure = on_failure
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], report: bool = False) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, report))
        return task

    def _done(self, task: asyncio.Task[Any], report: bool) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # always retrieved: no "exception was never retrieved" noise
        if exc is not None and report:
            log.error("conversation task failed: %r", exc, exc_info=exc)
            self.on_failure(exc)

    async def close(self) -> None:
        """Cancel every task still running and wait for each."""
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
