"""Cognify and the diff: stable ids, content hashes, and exactly what a rename, delete, edit or move rewrites.

Also the allowed-root check (nothing outside CODEBASE_ROOT is read) and the Cypher the writers send.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from argus_streams.knowledge_graph import analyze, extract, stable_id
from argus_streams.knowledge_graph.cognify import CodeGraph, GraphDiff, diff
from argus_streams.knowledge_graph.paths import CodebaseNotFound, PathRefused, resolve_codebase
from argus_streams.knowledge_graph.store import created_statements, diff_statements, failed_statements

SAMPLE = Path(__file__).resolve().parents[1] / "codegraph_sample" / "shop"
TENANT, PROJECT = "acme", "shop"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLE, tmp_path / "shop")
    return tmp_path


def graph_of(root: Path) -> CodeGraph:
    return analyze("shop", root, TENANT, PROJECT)[0]


def changes(before: CodeGraph, after: CodeGraph) -> GraphDiff:
    held = {node.id: (node.label, node.hash) for node in before.nodes.values()}
    return diff(after, held, set(before.edges))


def qnames(graph: CodeGraph, ids: list[str]) -> set[str]:
    return {graph.nodes[i].props["qname"] for i in ids}


def test_ids_are_stable_and_every_node_carries_the_tenant(root: Path) -> None:
    graph = graph_of(root)
    assert len(graph.nodes) == 1 + 26 + 10 + 40 + 8  # project, files, classes, functions, tests
    assert graph.entity_count == 58
    node = next(n for n in graph.nodes.values() if n.props["qname"] == "api/pricing.py::line_total")
    assert node.id == stable_id(TENANT, PROJECT, "function", "api/pricing.py::line_total")
    assert {n.props["tenant_id"] for n in graph.nodes.values()} == {TENANT}
    assert {n.label for n in graph.nodes.values()} == {"Project", "File", "Class", "Function", "Test"}
    assert sum(1 for e in graph.edges if e.type == "CONTAINS") == 26
    assert stable_id("globex", PROJECT, "function", "api/pricing.py::line_total") != node.id


def test_the_same_codebase_twice_changes_nothing(root: Path) -> None:
    assert changes(graph_of(root), graph_of(root)).empty


def test_an_edit_rewrites_only_the_edited_function_and_its_file(root: Path) -> None:
    before = graph_of(root)
    pricing = root / "shop/api/pricing.py"
    pricing.write_text(pricing.read_text().replace("return product.price * qty", "return qty * product.price"))
    after = graph_of(root)
    delta = changes(before, after)
    assert {(n.label, n.props["qname"]) for n in delta.nodes} == {
        ("File", "api/pricing.py"), ("Function", "api/pricing.py::line_total")}
    assert not (delta.gone_nodes or delta.edges or delta.gone_edges)


def test_moving_a_function_keeps_its_node(root: Path) -> None:
    before = graph_of(root)
    notify = root / "shop/api/notify.py"
    text = notify.read_text()
    head, first, second = text.split("\n\n\n")
    notify.write_text("\n\n\n".join([head, second.rstrip("\n"), first]) + "\n")  # send_receipt above format_receipt
    delta = changes(before, graph_of(root))
    assert [n.props["qname"] for n in delta.nodes] == ["api/notify.py"]  # only the file's bytes changed
    assert not (delta.gone_nodes or delta.edges or delta.gone_edges)


def test_a_rename_replaces_one_node_and_its_edges(root: Path) -> None:
    before = graph_of(root)
    pricing = root / "shop/api/pricing.py"
    pricing.write_text(pricing.read_text().replace("discount_rate", "rate_for"))
    after = graph_of(root)
    delta = changes(before, after)
    assert qnames(before, [i for _, i in delta.gone_nodes]) == {"api/pricing.py::discount_rate"}
    assert {n.props["qname"] for n in delta.nodes} == {
        "api/pricing.py", "api/pricing.py::rate_for", "api/pricing.py::apply_discount"}  # the caller's text changed
    new_edges = {(e.type, after.nodes[e.src].props["qname"], after.nodes[e.dst].props["qname"]) for e in delta.edges}
    assert new_edges == {("DEFINES", "api/pricing.py", "api/pricing.py::rate_for"),
                         ("CALLS", "api/pricing.py::apply_discount", "api/pricing.py::rate_for")}
    gone = {(e.type, before.nodes[e.src].props["qname"], before.nodes[e.dst].props["qname"])
            for e in delta.gone_edges}
    assert gone == {("DEFINES", "api/pricing.py", "api/pricing.py::discount_rate"),
                    ("CALLS", "api/pricing.py::apply_discount", "api/pricing.py::discount_rate")}


def test_a_deleted_file_takes_its_entities_and_edges_along(root: Path) -> None:
    before = graph_of(root)
    (root / "shop/web/src/utils/money.ts").unlink()
    after = graph_of(root)
    delta = changes(before, after)
    assert qnames(before, [i for _, i in delta.gone_nodes]) == {
        "web/src/utils/money.ts", "web/src/utils/money.ts::formatPrice", "web/src/utils/money.ts::applyRate"}
    assert delta.nodes == [] and delta.edges == []
    gone_types = sorted(e.type for e in delta.gone_edges)
    # CONTAINS + 2 DEFINES; 5 IMPORTS of it; CALLS from CartView, LineItem, DiscountedCart.total; TESTS from a test
    assert gone_types == ["CALLS"] * 3 + ["CONTAINS"] + ["DEFINES"] * 2 + ["IMPORTS"] * 5 + ["TESTS"]


def test_a_broken_file_is_reported_and_the_rest_still_extracted(root: Path) -> None:
    (root / "shop/api/pricing.py").write_text("def line_total(product, qty:\n    return 1\n")
    (root / "shop/web/src/utils/money.ts").write_text("export function formatPrice(cents: number {\n")
    graph, extraction = analyze("shop", root, TENANT, PROJECT)
    assert set(extraction.parse_errors) == {"api/pricing.py", "web/src/utils/money.ts"}
    assert extraction.parse_errors["api/pricing.py"].startswith("SyntaxError")
    files = {n.props["qname"]: n.props for n in graph.nodes.values() if n.label == "File"}
    assert len(files) == 26 and files["api/pricing.py"]["parse_error"]
    assert graph.entity_count == 58 - 3 - 2  # the broken files' entities only


def test_unreadable_and_binary_files_are_parse_errors(root: Path) -> None:
    (root / "shop/api/blob.py").write_bytes(b"\xff\xfe\x00binary")
    parsed = extract.parse_file("api/blob.py", root / "shop/api/blob.py")
    assert parsed.error and parsed.symbols == []


# --- The allowed root ------------------------------------------------------------------------------------------


def test_paths_resolve_under_the_root(root: Path) -> None:
    assert resolve_codebase("shop", root) == (root / "shop").resolve()
    assert resolve_codebase(str(root / "shop"), root) == (root / "shop").resolve()
    assert resolve_codebase((root / "shop").as_uri(), root) == (root / "shop").resolve()
    with pytest.raises(CodebaseNotFound):
        resolve_codebase("missing", root)


@pytest.mark.parametrize("path", ["/etc", "../outside", "shop/../../outside", "file:///etc", "file://host/x", ""])
def test_paths_outside_the_root_are_refused(root: Path, path: str) -> None:
    (root.parent / "outside").mkdir(exist_ok=True)
    with pytest.raises(PathRefused if path else CodebaseNotFound):
        resolve_codebase(path, root / "shop") if path else resolve_codebase("x", root)


def test_a_symlink_out_of_the_root_is_refused_without_reading(root: Path, tmp_path_factory: pytest.TempPathFactory,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    outside = tmp_path_factory.mktemp("secret")
    (outside / "secret.py").write_text("TOKEN = 1\n")
    os.symlink(outside, root / "link")
    monkeypatch.setattr(extract, "parse_file", lambda *a: pytest.fail("a file was read"))
    with pytest.raises(PathRefused):
        analyze("link", root, TENANT, PROJECT)
    with pytest.raises(PathRefused):
        analyze(str(outside), root, TENANT, PROJECT)


def test_no_root_refuses_everything(root: Path) -> None:
    with pytest.raises(PathRefused):
        resolve_codebase(str(root / "shop"), "")


def test_symlinked_files_inside_the_codebase_that_leave_it_are_skipped(
        root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("secret")
    (outside / "keys.py").write_text("def leak():\n    pass\n")
    os.symlink(outside / "keys.py", root / "shop/api/keys.py")
    (root / "shop/api/alias.py").symlink_to(root / "shop/api/notify.py")  # inside: read like any file
    extraction = analyze("shop", root, TENANT, PROJECT)[1]
    paths = {f.path for f in extraction.files}
    assert "api/keys.py" not in paths and "api/alias.py" in paths


# --- The statements ---------------------------------------------------------------------------------------------


def test_statements_are_parameterised_and_ordered(root: Path) -> None:
    graph = graph_of(root)
    statements = diff_statements(TENANT, diff(graph, {}, set()))
    assert all(TENANT not in query and "shop" not in query for query, _ in statements)
    kinds = [query.split("\n")[-2].strip().split(" ")[0] if "\n" in query.strip() else query.split()[-4]
             for query, _ in statements]
    assert kinds  # upserts of every label, then MERGE of every edge shape
    assert sum(len(p["rows"]) for q, p in statements if "SET n = r.props" in q) == len(graph.nodes)
    assert sum(len(p["rows"]) for q, p in statements if "MERGE (a)-[" in q) == len(graph.edges)
    first_edge = next(i for i, (q, _) in enumerate(statements) if "MERGE (a)-[" in q)
    assert all("SET n = r.props" in q for q, _ in statements[:first_edge])


def test_only_known_labels_and_types_reach_cypher(root: Path) -> None:
    graph = graph_of(root)
    node = next(iter(graph.nodes.values()))
    bad = GraphDiff(nodes=[type(node)(node.id, "X) DETACH DELETE (m", node.props)])
    with pytest.raises(ValueError):
        diff_statements(TENANT, bad)


def test_test_event_statements() -> None:
    created = created_statements([{"tenant_id": TENANT, "test_id": "t1", "targets": []}])
    assert len(created) == 1
    linked = created_statements([{"tenant_id": TENANT, "test_id": "t1", "targets": ["Cart.add"]}])
    assert len(linked) == 3 and "Function" in linked[1][0] and "Class" in linked[2][0]
    assert "FAILED_IN" in failed_statements([{}])[0][0]


def test_an_extractor_failure_on_one_file_is_that_file_s_parse_error(root: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(path: str, data: bytes, digest: str) -> None:
        raise RecursionError("maximum recursion depth exceeded")
    monkeypatch.setattr(extract.jsextract, "parse_js", explode)
    graph, extraction = analyze("shop", root, TENANT, PROJECT)
    assert len(extraction.parse_errors) == 14  # every TypeScript file; the Python ones are all there
    assert all(e.startswith("ExtractorError: RecursionError") for e in extraction.parse_errors.values())
    python = [n for n in graph.nodes.values() if n.props.get("path", "").endswith(".py") and n.label != "File"]
    assert len(python) == 6 + 20 + 4  # classes, functions, tests


def test_each_tenant_reads_codebases_only_under_its_own_folder(tmp_path: Path) -> None:
    from argus_streams.knowledge_graph.paths import tenant_root

    (tmp_path / "acme" / "shop").mkdir(parents=True)
    (tmp_path / "globex").mkdir()
    assert tenant_root(tmp_path, "acme") == str(tmp_path / "acme")
    assert resolve_codebase("shop", tenant_root(tmp_path, "acme")) == (tmp_path / "acme" / "shop").resolve()
    for path in ("../acme/shop", str(tmp_path / "acme" / "shop"), (tmp_path / "acme" / "shop").as_uri(), ".."):
        with pytest.raises(PathRefused, match="outside CODEBASE_ROOT"):
            resolve_codebase(path, tenant_root(tmp_path, "globex"))
    for tenant in ("", ".", "..", "a/b", "nul\x00", "x" * 256):
        with pytest.raises(PathRefused, match="cannot name a folder under CODEBASE_ROOT"):
            tenant_root(tmp_path, tenant)
