"""Micro-batching for async I/O: many concurrent `submit()` calls, one database round trip per batch.

Flink's async operator calls `async_invoke` once per record; a batch of UNWIND rows is ~40x faster
than one query per record (measured: ~117k vs ~3k merges/s on FalkorDB), so calls made within
`max_delay_s` of each other (or `max_size` of them) share one flush. One flush runs at a time: the
next batch grows while the previous one is written (bigger batches under load), and writes of one
subtask never race each other in the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")

DEFAULT_MAX_SIZE = 1000
DEFAULT_MAX_DELAY_S = 0.02


class MicroBatcher(Generic[T]):
    """Collects items and flushes them together; each caller awaits its own batch's outcome."""

    def __init__(
        self,
        flush: Callable[[Sequence[T]], Awaitable[Any]],
        max_size: int = DEFAULT_MAX_SIZE,
        max_delay_s: float = DEFAULT_MAX_DELAY_S,
    ):
        self._flush = flush
        self.max_size = max_size
        self.max_delay_s = max_delay_s
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Task[None] | None = None
        self.flushes = 0

    async def submit(self, item: T) -> None:
        """Returns when the batch holding `item` was written; raises that batch's error."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._items.append(item)
        self._waiters.append(waiter)
        if len(self._items) >= self.max_size:
            self._start_flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_delay_s, self._start_flush)
        await waiter

    def _start_flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._items or self._running is not None:
            return  # a flush is in progress: it starts the next one when it is done
        items, waiters = self._items[: self.max_size], self._waiters[: self.max_size]
        del self._items[: self.max_size], self._waiters[: self.max_size]
        self._running = asyncio.get_running_loop().create_task(self._run(items, waiters))

    def _flush_done(self) -> None:
        self._running = None
        self._start_flush()

    async def _run(self, items: list[T], waiters: list[asyncio.Future[None]]) -> None:
        try:
            await self._flush(items)
        except Exception as exc:  # every caller of this batch sees the error (and decides what to do)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
        else:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        finally:
            self.flushes += 1
            asyncio.get_running_loop().call_soon(self._flush_done)
