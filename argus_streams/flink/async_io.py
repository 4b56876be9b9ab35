"""What the jobs' async I/O operators share: a micro-batched write that isolates bad rows, and closing a client
on the operator's event loop. (Each operator opens its clients lazily, at first use, on that loop.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from argus_streams.stores.policy import is_data_error

Row = TypeVar("Row")
Letter = TypeVar("Letter")


async def write_isolating_bad_rows(
    write: Callable[[], Awaitable[Any]], rows: Sequence[Row],
    write_alone: Callable[[Sequence[Row]], Awaitable[Any]], dead_letter: Callable[[Row, BaseException], Letter],
) -> list[Letter]:
    """`write()` the rows (through a micro-batch shared with other records). When a store refuses that batch
    as bad data, write each row alone to find the culprits: they come back as dead letters, the rest are
    written. Any other error (a store down past its retry deadline, a bug) raises: the task fails over to its
    checkpoint."""
    try:
        await write()
        return []
    except Exception as error:
        if not is_data_error(error):
            raise
    dead = []
    for row in rows:
        try:
            await write_alone([row])
        except Exception as exc:
            if not is_data_error(exc):
                raise
            dead.append(dead_letter(row, exc))
    return dead


async def first_error_of(*writes: Awaitable[Any]) -> None:
    """Run the writes together; raise one that is not bad data if any, else the first bad-data error."""
    errors = [error for error in await asyncio.gather(*writes, return_exceptions=True)
              if isinstance(error, BaseException)]
    for error in errors:
        if not is_data_error(error):
            raise error
    if errors:
        raise errors[0]


def close_on_operator_loop(client: Any) -> None:
    """From an operator's `close()`: close an async client on the loop it was opened on, if still there."""
    if client is None:
        return
    try:
        asyncio.get_event_loop().run_until_complete(client.close())
    except RuntimeError:
        pass  # the operator's loop is already gone; connections close with the process
