"""The one error policy of the jobs' stores: a store down (retry with backoff), bad data (the DLQ), or a bug.

    is_transient(error)   a store that is down or slow: retry with backoff (backpressure), never the DLQ
    is_data_error(error)  the record's own fault: BadData, text that cannot be encoded, a query the store
                          refused for its values; the record goes to the DLQ with its context
    anything else         a bug (a TypeError in a writer) or refused credentials: the task fails loudly

The store clients' own errors count only once their client is loaded (an error of a client can only be raised
by it), so this module imports none of them: a job that writes only PostgreSQL loads no graph client.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from argus_streams.errors import BadData, StoreUnavailable

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError, TimeoutError, OSError, asyncio.TimeoutError, StoreUnavailable,
)
DATA_ERRORS: tuple[type[BaseException], ...] = (BadData, UnicodeError)


def _client_errors() -> tuple[tuple[type[BaseException], ...], ...]:
    """(transient, data, refused credentials) of the store clients loaded in this process."""
    transient: list[type[BaseException]] = []
    data: list[type[BaseException]] = []
    refused: list[type[BaseException]] = []
    if (redis := sys.modules.get("redis.exceptions")) is not None:  # FalkorDB and the fix cache
        transient += [redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError]
        data.append(redis.ResponseError)  # FalkorDB refusing a query: the row is bad
        refused += [redis.AuthenticationError, redis.NoPermissionError]
    if (neo4j := sys.modules.get("neo4j.exceptions")) is not None:
        transient += [neo4j.ServiceUnavailable, neo4j.SessionExpired, neo4j.TransientError]
        data.append(neo4j.ClientError)
        refused += [neo4j.AuthError, neo4j.Forbidden]
    if (psycopg2 := sys.modules.get("psycopg2")) is not None:
        data.append(psycopg2.DataError)
    return tuple(transient), tuple(data), tuple(refused)


def is_transient(error: BaseException) -> bool:
    """A store that is down or slow: retry with backoff (backpressure), never the DLQ."""
    transient, _, refused = _client_errors()
    return isinstance(error, TRANSIENT_ERRORS + transient) and not isinstance(error, refused)


def is_data_error(error: BaseException) -> bool:
    """The record's own fault: the rows go to the DLQ. Refused credentials are configuration, never data, and
    any other error (a ValueError or TypeError from our code is a bug) fails the task."""
    _, data, refused = _client_errors()
    return isinstance(error, DATA_ERRORS + data) and not isinstance(error, refused)


async def retry_transient(
    action: Callable[[], Awaitable[Any]], *, initial_s: float = 0.2, max_s: float = 10.0,
    deadline_s: float = 600.0, what: str = "graph write",
) -> Any:
    """Retry `action` with exponential backoff while its errors are transient (backpressure, no DLQ)."""
    delay, waited = initial_s, 0.0
    while True:
        try:
            return await action()
        except Exception as exc:
            if not is_transient(exc) or waited >= deadline_s:
                raise
            log.warning("%s failed (%r); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, max_s)
