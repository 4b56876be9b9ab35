"""The Cognee enrichment's mapping, without cognee: documents read under the root rules, an enrichment
joined to the code graph with stable ids (a second identical run is an empty diff), the worker's env."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from argus_streams.knowledge_graph import analyze, diff
from argus_streams.knowledge_graph.enrich import MAX_DOC_BYTES, Enrichment, documents, enrich_graph, worker_env
from tests.unit import test_codegraph_extract as sample

ENRICHMENT = Enrichment(
    entities=[{"name": "Cart", "type": "codeconcept", "description": "holds line items"},
              {"name": "check_quantity", "type": "codeconcept", "description": "refuses zero"},
              {"name": "discounts", "type": "topic", "description": "no code has this name"}],
    mentions=[{"path": "docs/checkout.md", "entity": "cart"}, {"path": "docs/checkout.md", "entity": "check_quantity"},
              {"path": "docs/nowhere.md", "entity": "cart"}],  # a path that is not a document: dropped
    relations=[{"source": "cart", "target": "check_quantity", "relationship": "mentioned_with"},
               {"source": "cart", "target": "cart", "relationship": "is"}],  # a self-loop: dropped
)


def enriched(tenant: str = "acme"):  # noqa: ANN201
    graph, _ = analyze("shop", sample.SAMPLE.parent, tenant, "shop")
    return enrich_graph(graph, ENRICHMENT, documents(sample.SAMPLE))


def named_edges(graph) -> set[tuple[str, str, str]]:  # noqa: ANN001
    qname = {node.id: node.props["qname"] for node in graph.nodes.values()}
    return {(e.type, qname[e.src], qname[e.dst]) for e in graph.edges if e.type in ("MENTIONS", "RELATES_TO", "ABOUT")}


def test_documents_are_the_codebase_s_text_files_never_outside_it(tmp_path: Path) -> None:
    base = tmp_path / "shop"
    shutil.copytree(sample.SAMPLE, base)
    (tmp_path / "secret.md").write_text("TOKEN `never_read`")
    (base / "docs" / "leak.md").symlink_to(tmp_path / "secret.md")
    (base / "docs" / "huge.md").write_text("x" * (MAX_DOC_BYTES + 1))
    (base / "docs" / "empty.txt").write_text("  \n")
    assert [doc.path for doc in documents(base)] == ["README.md", "docs/checkout.feature", "docs/checkout.md"]


def test_an_enrichment_joins_the_graph_with_concepts_about_the_code_they_name() -> None:
    graph = enriched()
    labels = {(n.label, n.props["qname"]) for n in graph.nodes.values() if n.label in ("Document", "Concept")}
    assert labels == {("Document", "README.md"), ("Document", "docs/checkout.feature"),
                      ("Document", "docs/checkout.md"), ("Concept", "cart"), ("Concept", "check_quantity"),
                      ("Concept", "discounts")}
    assert named_edges(graph) == {
        ("MENTIONS", "docs/checkout.md", "cart"), ("MENTIONS", "docs/checkout.md", "check_quantity"),
        ("RELATES_TO", "cart", "check_quantity"),
        ("ABOUT", "cart", "api/models.py::Cart"), ("ABOUT", "cart", "tests/conftest.py::cart"),
        ("ABOUT", "check_quantity", "api/validation.py::check_quantity")}
    assert all(n.props["tenant_id"] == "acme" for n in graph.nodes.values())


def test_the_same_enrichment_again_is_an_empty_diff_and_tenants_get_their_own_ids() -> None:
    first, again = enriched(), enriched()
    held = {n.id: (n.label, n.hash) for n in first.nodes.values()}
    assert diff(again, held, set(first.edges)).empty
    other = enriched("globex")
    concepts = {n.id for n in first.nodes.values() if n.label == "Concept"}
    assert concepts and not concepts & {n.id for n in other.nodes.values()}


def test_the_worker_gets_no_stack_secrets_and_a_folder_of_its_own(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_PASSWORD", "secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:secret@h/db")
    env_file = tmp_path / "cognee.env"
    env_file.write_text(f"LLM_API_KEY=sk-x\nCOGNEE_ROOT={tmp_path / 'c'}\n")
    env = worker_env(str(env_file))
    assert "NEO4J_PASSWORD" not in env and "DATABASE_URL" not in env and env["LLM_API_KEY"] == "sk-x"
    assert env["SYSTEM_ROOT_DIRECTORY"].startswith(str(tmp_path / "c" / "worker-"))
    assert env["DATA_ROOT_DIRECTORY"] != env["SYSTEM_ROOT_DIRECTORY"]
