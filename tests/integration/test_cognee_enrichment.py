"""The optional Cognee enrichment, for real: cognee 1.6.5 in .venv-cognee (`make cognee`), its LLM and
embeddings served by the local OpenAI stand-in (tests/openai_standin.py; no hosted model is reachable here).

First the worker alone (documents -> cognee add + cognify -> get_graph_data() -> our mapping), then the
knowledge-graph job with --cognee-python: the sample codebase's documents become Document and Concept
nodes in FalkorDB and Neo4j, ABOUT the classes and functions they name, and the same event again writes
nothing.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argus_dev.stack.base import REPO_ROOT

from argus_streams.bus.gateway import EventGateway
from argus_streams.flink import cluster
from argus_streams.knowledge_graph import analyze
from argus_streams.knowledge_graph.enrich import (
    CogneeEnricher,
    Document,
    Enrichment,
    EnrichmentUnavailable,
    documents,
    enrich_graph,
)
from argus_streams.knowledge_graph.queries import code_graph
from argus_streams.settings import read_env_file, write_env_file
from argus_streams.stores.policy import is_data_error, is_transient
from tests.integration.test_knowledge_graph_job import PROJECT, Analyzed, ingested, submit
from tests.openai_standin import OpenAIStandIn
from tests.unit import test_codegraph_extract as sample

COGNEE_PYTHON = REPO_ROOT / ".venv-cognee" / "bin" / "python"
DOCS = ["README.md", "docs/checkout.feature", "docs/checkout.md"]
# What the stand-in's extraction yields from those documents (identifiers in them), lower-cased by cognee.
CONCEPTS = {"cart", "cart.add", "check_quantity", "validationerror", "apply_discount", "discount_rate",
            "cartmodel", "cartmodel.validate", "typescript", "test_codegraph_extract"}
README_CONCEPTS = {"typescript", "test_codegraph_extract"}
MENTIONS = {("docs/checkout.md", c) for c in CONCEPTS - README_CONCEPTS} | {
    ("README.md", c) for c in README_CONCEPTS} | {
    ("docs/checkout.feature", "check_quantity"), ("docs/checkout.feature", "validationerror")}
# Each concept ABOUT the code it names ("cart" is the Cart class and the tests' `cart` fixture).
ABOUT = {("cart", "api/models.py::Cart"), ("cart", "tests/conftest.py::cart"), ("cart.add", "api/models.py::Cart.add"),
         ("check_quantity", "api/validation.py::check_quantity"),
         ("validationerror", "api/validation.py::ValidationError"),
         ("apply_discount", "api/pricing.py::apply_discount"), ("discount_rate", "api/pricing.py::discount_rate"),
         ("cartmodel", "web/src/models/cart.ts::CartModel"),
         ("cartmodel.validate", "web/src/models/cart.ts::CartModel.validate")}


@pytest.fixture(scope="module")
def cognee_python() -> str:
    if not COGNEE_PYTHON.exists():
        pytest.fail(f"{COGNEE_PYTHON} is missing: `make cognee` installs it (make test does)")
    return str(COGNEE_PYTHON)


@pytest.fixture
def llm(tmp_path: Path) -> Iterator[tuple[OpenAIStandIn, Path]]:
    with OpenAIStandIn() as standin:
        env_file = tmp_path / "cognee.env"
        write_env_file(env_file, {
            "LLM_PROVIDER": "openai", "LLM_MODEL": "openai/gpt-4o-mini", "LLM_ENDPOINT": standin.base_url,
            "LLM_API_KEY": standin.api_key, "EMBEDDING_PROVIDER": "openai_compatible",
            "EMBEDDING_MODEL": "text-embedding-3-small", "EMBEDDING_DIMENSIONS": "1536",
            "EMBEDDING_ENDPOINT": standin.base_url, "EMBEDDING_API_KEY": standin.api_key,
            "COGNEE_ROOT": str(tmp_path / "cognee")})
        yield standin, env_file


async def enrich_once(enricher: CogneeEnricher, docs: list[Document]) -> Enrichment:
    try:
        return await enricher.enrich("acme", PROJECT, docs)
    finally:
        await enricher.close()


def test_the_worker_runs_cognee_on_the_documents_and_maps_its_graph(
        cognee_python: str, llm: tuple[OpenAIStandIn, Path]) -> None:
    standin, env_file = llm
    docs = documents(sample.SAMPLE)
    assert [doc.path for doc in docs] == DOCS
    enrichment = asyncio.run(enrich_once(CogneeEnricher(cognee_python, str(env_file), timeout_s=300), docs))
    assert {entity["name"] for entity in enrichment.entities} == CONCEPTS
    assert {(m["path"], m["entity"]) for m in enrichment.mentions} == MENTIONS
    assert ("check_quantity", "validationerror", "mentioned_with") in {
        (r["source"], r["target"], r["relationship"]) for r in enrichment.relations}
    # cognee spoke the real protocol to the stand-in: structured output (a JSON schema), and embeddings.
    paths = {request.path for request in standin.requests}
    assert paths == {"/v1/chat/completions", "/v1/embeddings"}
    formats = {r.json["response_format"]["type"] for r in standin.requests if r.path.endswith("/completions")}
    assert formats == {"json_schema"}

    graph, _ = analyze(PROJECT, sample.SAMPLE.parent, "acme", PROJECT)
    enrich_graph(graph, enrichment, docs)
    by_id = {node.id: node for node in graph.nodes.values()}
    about = {(by_id[e.src].props["qname"], by_id[e.dst].props["qname"]) for e in graph.edges if e.type == "ABOUT"}
    assert about == ABOUT


def test_a_refused_llm_call_is_an_enrichment_error_never_a_dead_letter(
        cognee_python: str, llm: tuple[OpenAIStandIn, Path], tmp_path: Path) -> None:
    """The stand-in refuses the key (401, which cognee does not retry): the job would retry, then restart."""
    standin, env_file = llm
    settings = read_env_file(env_file)
    write_env_file(env_file, {**settings, "LLM_API_KEY": "sk-wrong", "EMBEDDING_API_KEY": "sk-wrong"})
    enricher = CogneeEnricher(cognee_python, str(env_file), timeout_s=300)
    with pytest.raises(EnrichmentUnavailable, match="(?i)auth|api key") as failed:
        asyncio.run(enrich_once(enricher, [Document("README.md", "The `Cart` holds items.")]))
    assert is_transient(failed.value) and not is_data_error(failed.value)
    assert standin.requests, "cognee never called the stand-in"


def concept_graph(settings: Any, tenant: str, store: str) -> tuple[set[str], set[tuple[str, str, str]]]:
    nodes, edges = code_graph(settings, tenant, PROJECT, store)
    concepts = {qname for label, qname in nodes if label == "Concept"}
    return concepts, {e for e in edges if e[0] in ("MENTIONS", "ABOUT")}


def test_the_job_enriches_the_graph_in_both_stores(stack, settings, cognee_python: str,  # noqa: ANN001
                                                   llm: tuple[OpenAIStandIn, Path], tmp_path: Path) -> None:
    _, env_file = llm
    tenant = f"{settings.topic_prefix}-acme"
    root = tmp_path / "codebases"
    shutil.copytree(sample.SAMPLE, root / tenant / PROJECT)
    first = ingested(tenant, PROJECT, "c1")
    with EventGateway(settings) as gateway:
        gateway.publish(first)
    analyzed = Analyzed(settings)
    job_id = submit(stack, settings, root, ("--cognee-python", cognee_python, "--cognee-env-file", str(env_file)))
    try:
        event = analyzed.next(timeout_s=300)
        assert (event.payload["documents"], event.payload["concepts"]) == (3, len(CONCEPTS))
        # The code graph as without enrichment (85 nodes), plus 3 documents and the concepts.
        assert event.payload["nodes_written"] == 85 + 3 + len(CONCEPTS)
        expected_edges = {("MENTIONS", doc, concept) for doc, concept in MENTIONS} | {
            ("ABOUT", concept, code) for concept, code in ABOUT}
        for store in ("falkordb", "neo4j"):
            assert concept_graph(settings, tenant, store) == (CONCEPTS, expected_edges), store

        with EventGateway(settings) as gateway:
            gateway.publish(first)  # the same event again: the enrichment is the same, nothing is written
        again = analyzed.next(timeout_s=300)
        assert (again.payload["nodes_written"], again.payload["nodes_deleted"], again.payload["edges_written"],
                again.payload["edges_deleted"]) == (0, 0, 0, 0)
    finally:
        analyzed.reader.close()
        cluster.cancel(settings, job_id)
