"""The fix cache (Redis protocol: FalkorDB locally, Valkey in compose) and fixes in the failure graph.

A cached fix is a hash `argus:fix:<tenant>:<signature>:<selector hash>` with selector, strategy,
confidence, success_count, failure_count and a 7-day TTL; outcome counts use HINCRBY, so tests that
share a fix never overwrite each other's counts. An outcome is counted once per `test.executed` event id: a
marker `<fix key>:counted:<event id>` (the fix's TTL) is set in the same script as the count, so a replayed or
redelivered event (the healing sink is at-least-once) counts nothing.
"""

from __future__ import annotations

import functools
from typing import Any

import redis.asyncio as aioredis

from argus_streams.failures.graph import Neo4jGraphWriter
from argus_streams.healing.decisions import FIX_TTL_S, should_evict
from argus_streams.settings import Settings
from argus_streams.stores.graphs import falkordb_client
from argus_streams.stores.policy import retry_transient

RECORD_FIX = """
MERGE (f:Failure {tenant_id: $tenant_id, signature: $signature})
MERGE (x:Fix {tenant_id: $tenant_id, signature: $signature, selector: $selector})
SET x.strategy = $strategy, x.confidence = $confidence,
    x.success_count = $success_count, x.failure_count = $failure_count
MERGE (f)-[:FIXED_BY]->(x)
"""
# An outcome's counts only grow: outcome writes run concurrently (the async operator), so an older count can
# arrive after a newer one; the greater one stays.
RECORD_OUTCOME = """
MERGE (f:Failure {tenant_id: $tenant_id, signature: $signature})
MERGE (x:Fix {tenant_id: $tenant_id, signature: $signature, selector: $selector})
SET x.strategy = $strategy, x.confidence = $confidence,
    x.success_count = CASE WHEN x.success_count IS NULL OR x.success_count < $success_count
                           THEN $success_count ELSE x.success_count END,
    x.failure_count = CASE WHEN x.failure_count IS NULL OR x.failure_count < $failure_count
                           THEN $failure_count ELSE x.failure_count END
MERGE (f)-[:FIXED_BY]->(x)
"""
BEST_FIX = """
MATCH (:Failure {tenant_id: $tenant_id, signature: $signature})-[:FIXED_BY]->(x:Fix {tenant_id: $tenant_id})
WHERE x.success_count >= x.failure_count
RETURN x.selector, x.strategy, x.confidence ORDER BY x.success_count DESC, x.confidence DESC LIMIT 1
"""
_NUMBERS = {"confidence": float, "success_count": int, "failure_count": int}
# KEYS: the fix, the outcome's marker; ARGV: the count to raise, the marker's TTL. 1: counted; 0: counted
# before (the marker exists); -1: no such fix (expired or evicted).
COUNT_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1
"""


def decode_fix(raw: dict[bytes, bytes]) -> dict[str, Any] | None:
    """A cached fix, or None when there is none or the hash is not one (a miss: it is healed again and
    rewritten, where a KeyError in the decision would fail the job on every replay)."""
    if not raw:
        return None
    try:
        fix: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
        for name, convert in _NUMBERS.items():
            fix[name] = convert(fix.get(name, 0))
    except ValueError:  # undecodable bytes or a count that is not a number
        return None
    if not (fix.get("selector") and fix.get("strategy")):
        return None
    return fix


class FixStore:
    """Opened lazily on the async operator's event loop."""

    def __init__(self, settings: Settings):
        self._cache = aioredis.from_url(settings.cache_url.get_secret_value())
        self._db = falkordb_client(settings.falkordb_url.get_secret_value())
        self._graph = self._db.select_graph(settings.falkordb_graph)
        self._neo4j = Neo4jGraphWriter(settings)  # the graph is synced to Neo4j, as the failure job's

    async def lookup(self, key: str) -> dict[str, Any] | None:
        return decode_fix(await self._cache.hgetall(key))

    async def ttl(self, key: str) -> int:
        return int(await self._cache.ttl(key))

    async def apply(self, action: dict[str, Any]) -> None:
        op = action["op"]
        if op == "cache_set":
            fix = {**action["fix"], "success_count": 0, "failure_count": 0}
            async with self._cache.pipeline(transaction=True) as pipe:
                pipe.hset(action["key"], mapping=fix)
                pipe.expire(action["key"], action["ttl_s"])
                await pipe.execute()
            await self._record(action, fix)
        elif op == "cache_outcome":
            await self._count_outcome(action)
        else:
            raise ValueError(f"unknown fix-store action {op!r}")

    async def _count_outcome(self, action: dict[str, Any]) -> None:
        key = action["key"]
        counted = await self._cache.eval(COUNT_ONCE, 2, key, f"{key}:counted:{action['event_id']}",
                                         "success_count" if action["passed"] else "failure_count", FIX_TTL_S)
        if counted != 1:
            return  # expired or evicted meanwhile, or this event was counted before
        fix = decode_fix(await self._cache.hgetall(key))
        if fix is None:
            return  # expired between the two calls, or not a fix: nothing to record
        if should_evict(fix["success_count"], fix["failure_count"]):
            await self._cache.delete(key)  # not served again
        await self._record(action, fix, RECORD_OUTCOME)

    async def _record(self, action: dict[str, Any], fix: dict[str, Any], query: str = RECORD_FIX) -> None:
        params = {
            "tenant_id": action["tenant_id"], "signature": action["signature"], "selector": fix["selector"],
            "strategy": fix["strategy"], "confidence": float(fix["confidence"]),
            "success_count": int(fix.get("success_count", 0)), "failure_count": int(fix.get("failure_count", 0)),
        }
        await retry_transient(functools.partial(self._graph.query, query, params), what="FalkorDB fix")
        await retry_transient(functools.partial(self._neo4j.run, query, params), what="Neo4j fix")

    async def best_fix(self, tenant_id: str, signature: str) -> dict[str, Any] | None:
        """A fix that healed this signature before and works at least as often as it fails."""
        graphs = await self._db.list_graphs()
        if self._graph.name not in graphs:
            return None
        rows = (await self._graph.ro_query(BEST_FIX, {"tenant_id": tenant_id, "signature": signature})).result_set
        if not rows:
            return None
        selector, strategy, confidence = rows[0]
        return {"selector": selector, "strategy": f"history:{strategy}", "confidence": float(confidence)}

    async def close(self) -> None:
        await self._cache.aclose()
        await self._db.connection.aclose()
        await self._neo4j.close()
