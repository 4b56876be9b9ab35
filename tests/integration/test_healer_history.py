"""The healer's first strategy, history: a fix that healed the same signature before, read from the graph
(FIXED_BY, written with each cached fix and each counted outcome). Real FalkorDB and Neo4j, no Flink."""

from __future__ import annotations

import asyncio

from argus_dev.samples import locator_failure

from argus_streams.failures.queries import neo4j_rows
from argus_streams.healing import decisions
from argus_streams.healing.healer import answer
from argus_streams.healing.store import FixStore

# The button is gone; the link the recorded fix names is there, but nothing ties it to `#place-order`: the
# locator cannot heal this, only history can. On the page without it, history's fix selects nothing.
NO_MATCH = ("<!doctype html><html><body><main><div role='button' aria-label='Buy'>Buy</div>"
            "<a id='buy-now' href='/checkout'>Checkout</a></main></body></html>")
WITHOUT_FIX = "<!doctype html><html><body><main><div role='button' aria-label='Buy'>Buy</div></main></body></html>"
FIX = {"selector": "#buy-now", "strategy": "locator", "confidence": 0.9}


def request(tenant: str, seed: int = 1, page: str = NO_MATCH):  # noqa: ANN201
    failure = decisions.examine_failure(locator_failure(tenant, "t-buy", "#place-order", page, seed=seed))
    assert isinstance(failure, decisions.Failure)
    event = decisions.on_failure(decisions.TestHealingState(), failure, None, now_ms=0)
    assert event is not None
    return failure, event


def test_history_heals_what_healed_before_for_that_tenant_only_while_it_works(store_settings) -> None:  # noqa: ANN001
    tenant, other = f"{store_settings.topic_prefix}-a", f"{store_settings.topic_prefix}-b"
    failure, first = request(tenant)
    _, elsewhere = request(other)

    async def scenario() -> list:
        store = FixStore(store_settings)
        try:
            before = await answer(first, store, None)  # nothing in the graph yet: the locator's answer
            await store.apply({"op": "cache_set", "key": failure.key, "fix": FIX, "ttl_s": 600,
                               "tenant_id": tenant, "signature": failure.signature})
            after = await answer(request(tenant, seed=2)[1], store, None)
            not_on_page = await answer(request(tenant, seed=4, page=WITHOUT_FIX)[1], store, None)
            other_tenant = await answer(elsewhere, store, None)  # same signature, another tenant
            for run in range(2):  # two failed runs with the fix, none passed: it fails more often than it works
                await store.apply({"op": "cache_outcome", "key": failure.key, "passed": False, "tenant_id": tenant,
                                   "event_id": f"run-{run}", "signature": failure.signature, "fix": FIX})
            worn_out = await answer(request(tenant, seed=3)[1], store, None)
            return [before, after, not_on_page, other_tenant, worn_out]
        finally:
            await store.close()

    before, after, not_on_page, other_tenant, worn_out = (event.payload for event in asyncio.run(scenario()))
    assert before["status"] == "unhealable" and before["reason"].startswith("locator: ")
    assert after["status"] == "healed"
    assert after["fix"] == {"selector": "#buy-now", "strategy": "history:locator", "confidence": 0.9}
    # A healer's answer selects exactly one element of the page it came from, whatever strategy proposed it.
    assert not_on_page["status"] == "unhealable"
    assert "history: proposed '#buy-now', but it selects 0 elements of the DOM snapshot" in not_on_page["reason"]
    assert other_tenant["status"] == "unhealable"  # a tenant never gets another tenant's fix
    assert worn_out["status"] == "unhealable"
    # The fix and its outcome counts are in Neo4j as well (the graph is synced to both stores).
    rows = neo4j_rows(store_settings, "MATCH (f:Failure {tenant_id: $tenant})-[:FIXED_BY]->(x:Fix) "
                                "RETURN f.signature AS signature, x.selector AS selector, x.success_count AS ok, "
                                "x.failure_count AS failed", {"tenant": tenant})
    assert rows == [{"signature": failure.signature, "selector": "#buy-now", "ok": 0, "failed": 2}]


def test_outcome_counts_in_the_graph_never_go_back(store_settings) -> None:  # noqa: ANN001
    """Outcome writes run concurrently: a count written late (2 after 3) must not undo a newer one (the healing
    job test once ended with failure_count 2 after three failed runs)."""
    from argus_streams.failures.queries import falkordb_rows
    from argus_streams.healing.store import RECORD_OUTCOME

    tenant = f"{store_settings.topic_prefix}-race"
    action = {"tenant_id": tenant, "signature": "v1:race"}

    async def scenario() -> None:
        store = FixStore(store_settings)
        try:
            for failed in (1, 3, 2):  # the write of the second outcome arrives last
                await store._record(action, {**FIX, "success_count": 0, "failure_count": failed}, RECORD_OUTCOME)
        finally:
            await store.close()

    asyncio.run(scenario())
    query = "MATCH (x:Fix {tenant_id: $tenant}) RETURN x.failure_count AS failed, x.success_count AS ok"
    assert neo4j_rows(store_settings, query, {"tenant": tenant}) == [{"failed": 3, "ok": 0}]
    assert falkordb_rows(store_settings, query, {"tenant": tenant}) == [{"failed": 3, "ok": 0}]


def test_an_outcome_is_counted_once_per_event(store_settings) -> None:  # noqa: ANN001
    """A replayed or redelivered `test.executed` (the healing sink is at-least-once) counts nothing: not in the
    cache, not in either graph. Another event of the same run's outcome counts."""
    import redis

    from argus_streams.failures.queries import falkordb_rows

    tenant = f"{store_settings.topic_prefix}-once"
    failure, _ = request(tenant)
    outcome = {"op": "cache_outcome", "key": failure.key, "tenant_id": tenant, "signature": failure.signature,
               "fix": FIX}

    async def scenario() -> None:
        store = FixStore(store_settings)
        try:
            await store.apply({"op": "cache_set", "key": failure.key, "fix": FIX, "ttl_s": 600,
                               "tenant_id": tenant, "signature": failure.signature})
            for event_id, passed in (("e-1", True), ("e-1", True), ("e-2", False), ("e-1", True), ("e-2", False),
                                     ("e-3", True)):
                await store.apply({**outcome, "event_id": event_id, "passed": passed})
        finally:
            await store.close()

    asyncio.run(scenario())
    cache = redis.Redis.from_url(store_settings.cache_url.get_secret_value())
    try:
        counts = cache.hmget(failure.key, "success_count", "failure_count")
        marker_ttl = cache.ttl(f"{failure.key}:counted:e-1")
    finally:
        cache.close()
    assert counts == [b"2", b"1"]
    assert decisions.FIX_TTL_S - 60 <= marker_ttl <= decisions.FIX_TTL_S
    query = "MATCH (x:Fix {tenant_id: $tenant}) RETURN x.success_count AS ok, x.failure_count AS failed"
    assert falkordb_rows(store_settings, query, {"tenant": tenant}) == [{"ok": 2, "failed": 1}]
    assert neo4j_rows(store_settings, query, {"tenant": tenant}) == [{"ok": 2, "failed": 1}]


def test_history_never_serves_a_fix_of_another_tenant_wired_to_this_one(store_settings) -> None:  # noqa: ANN001
    """A FIXED_BY edge from this tenant's failure to another tenant's fix (a write this code does not make)
    serves nothing: the read names the tenant on the fix too."""
    from argus_streams.stores.graphs import falkordb_client

    tenant, other = f"{store_settings.topic_prefix}-own", f"{store_settings.topic_prefix}-other"
    db = falkordb_client(store_settings.falkordb_url.get_secret_value(), asynchronous=False)
    try:
        db.select_graph(store_settings.falkordb_graph).query(
            "CREATE (:Failure {tenant_id: $t, signature: 'v1:x'})-[:FIXED_BY]->"
            "(:Fix {tenant_id: $o, signature: 'v1:x', selector: '#theirs', strategy: 'locator', confidence: 0.9, "
            "success_count: 5, failure_count: 0})", {"t": tenant, "o": other})
    finally:
        db.connection.close()

    async def best() -> list:
        store = FixStore(store_settings)
        try:
            return [await store.best_fix(tenant, "v1:x"), await store.best_fix(other, "v1:x")]
        finally:
            await store.close()

    assert asyncio.run(best()) == [None, None]
