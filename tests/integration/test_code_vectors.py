"""Code vectors in the test stack's PostgreSQL (pgvector): exact rows, re-ingest diffs, exact nearest
entities (checked against a brute-force search over the stored vectors), tenants kept apart.

Each test has its own PostgreSQL schema; the job's own use of the store is in test_knowledge_graph_job.py.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from argus_streams.knowledge_graph import analyze
from argus_streams.knowledge_graph.embed import MODEL_NAME, embed
from argus_streams.knowledge_graph.vectors import AmbiguousName, CodeVectorStore, VectorDiff, VectorStoreUnavailable
from argus_streams.stores.policy import is_transient
from tests.unit import test_codegraph_extract as sample

PROJECT = "shop"


@pytest.fixture
def store(stack) -> Iterator[CodeVectorStore]:  # noqa: ANN001
    vectors = CodeVectorStore.from_settings(stack.settings(), schema=f"vectors_{uuid.uuid4().hex[:10]}")
    yield vectors
    vectors.drop()
    vectors.close()


def ingest(store: CodeVectorStore, root: Path, tenant: str = "acme") -> VectorDiff:
    graph, extraction = analyze(PROJECT, root, tenant, PROJECT)
    return store.sync(graph, extraction)


def brute_force(vectors: dict[str, np.ndarray], query: np.ndarray, k: int, exclude: str = "") -> list[str]:
    names = sorted(name for name in vectors if name != exclude)
    distances = 1 - np.stack([vectors[name] for name in names]) @ query
    return [names[i] for i in np.argsort(distances, kind="stable")[:k]]


def test_rows_are_the_classes_and_functions_and_a_reingest_writes_only_the_change(
        store: CodeVectorStore, tmp_path: Path) -> None:
    root = tmp_path / "codebases"
    shutil.copytree(sample.SAMPLE, root / PROJECT)
    assert ingest(store, root) == VectorDiff(written=50, deleted=0)
    stored, hashes = store.vectors("acme", PROJECT), store.held("acme", PROJECT)
    assert set(stored) == sample.CLASSES | sample.FUNCTIONS
    assert {model for _, model in store.held("acme", PROJECT).values()} == {MODEL_NAME}
    assert ingest(store, root) == VectorDiff()  # the same codebase again: nothing embedded, nothing written

    pricing = root / PROJECT / "api/pricing.py"
    pricing.write_text(pricing.read_text().replace("discount_rate", "rate_for")
                       .replace("return product.price * qty", "return qty * product.price"))
    (root / PROJECT / "web/src/utils/money.ts").unlink()
    # rate_for (new), apply_discount (calls it), line_total (edited); discount_rate, formatPrice, applyRate gone
    assert ingest(store, root) == VectorDiff(written=3, deleted=3)
    after = store.vectors("acme", PROJECT)
    assert set(after) == (sample.CLASSES | sample.FUNCTIONS | {"api/pricing.py::rate_for"}) - {
        "api/pricing.py::discount_rate", "web/src/utils/money.ts::formatPrice", "web/src/utils/money.ts::applyRate"}
    changed = {"api/pricing.py::rate_for", "api/pricing.py::apply_discount", "api/pricing.py::line_total"}
    unchanged = set(after) - changed
    assert all(np.array_equal(after[name], stored[name]) for name in unchanged)
    rewritten = {entity for entity, held in store.held("acme", PROJECT).items() if hashes.get(entity) != held}
    assert len(rewritten) == 3


def test_nearest_entities_are_exactly_the_brute_force_ones(store: CodeVectorStore) -> None:
    assert ingest(store, sample.SAMPLE.parent).written == 50
    vectors = store.vectors("acme", PROJECT)
    for name in ("api/validation.py::check_quantity", "web/src/models/cart.ts::CartModel.total",
                 "api/models.py::Cart", "web/src/api/client.ts::request"):
        entity, rows = store.like("acme", name, PROJECT, limit=5)
        assert entity["qname"] == name
        assert [row["qname"] for row in rows] == brute_force(vectors, vectors[name], 5, exclude=name)
        assert rows == sorted(rows, key=lambda row: -row["similarity"])
    query = embed(["send the customer an email receipt"])[0]
    rows = store.nearest("acme", query, PROJECT, limit=3)
    assert [row["qname"] for row in rows] == brute_force(vectors, query, 3)
    assert rows[0]["qname"] == "api/notify.py::send_receipt"


def test_names_resolve_like_the_graph_command_and_never_as_patterns(store: CodeVectorStore) -> None:
    ingest(store, sample.SAMPLE.parent)
    assert store.like("acme", "Cart.add", PROJECT)[0]["qname"] == "api/models.py::Cart.add"
    assert store.like("acme", "api/models.py::Cart.add", PROJECT)[0]["qname"] == "api/models.py::Cart.add"
    with pytest.raises(AmbiguousName) as ambiguous:
        store.like("acme", "total", PROJECT)
    assert {m["qname"] for m in ambiguous.value.matches} == {
        "api/models.py::Cart.total", "web/src/models/cart.ts::CartModel.total",
        "web/src/models/discountedCart.ts::DiscountedCart.total"}
    for pattern in ("%", "_", "Cart.%", "' OR '1'='1"):
        with pytest.raises(LookupError):
            store.like("acme", pattern, PROJECT)


def test_tenants_never_see_each_other(store: CodeVectorStore) -> None:
    ingest(store, sample.SAMPLE.parent, tenant="acme")
    assert ingest(store, sample.SAMPLE.parent, tenant="globex").written == 50  # same project id, own rows
    query = embed(["cart total"])[0]
    acme = store.nearest("acme", query, PROJECT, limit=100)
    assert len(acme) == 50 and len({row["entity_id"] for row in acme}) == 50
    assert not {row["entity_id"] for row in acme} & {row["entity_id"] for row in store.nearest(
        "globex", query, PROJECT, limit=100)}
    assert store.nearest("initech", query, limit=100) == []
    with pytest.raises(LookupError):
        store.like("initech", "api/models.py::Cart.add")


def test_postgres_unreachable_is_transient(stack) -> None:  # noqa: ANN001
    settings = stack.settings()
    dsn = settings.database_url.get_secret_value().replace(f":{stack.layout.ports.postgres}/", ":1/")
    with pytest.raises(VectorStoreUnavailable) as down:
        CodeVectorStore(dsn).held("acme", PROJECT)
    assert is_transient(down.value)
