"""Code embeddings without a database: the packaged model, what is embedded, and what it finds in the sample."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from argus_streams.cli import build_parser
from argus_streams.cli.graph import cmd_graph, format_similar
from argus_streams.knowledge_graph import analyze
from argus_streams.knowledge_graph.embed import DIM, embed, embeddable, identifier_words, model
from argus_streams.knowledge_graph.vectors import vector_literal
from tests.unit import test_codegraph_extract as sample


@pytest.fixture(scope="module")
def rows():  # noqa: ANN201
    graph, extraction = analyze("shop", sample.SAMPLE.parent, "acme", "shop")
    return embeddable(graph, extraction)


def nearest(rows: dict, query: np.ndarray, k: int, exclude: str = "") -> list[str]:
    """Brute force: every row's text embedded, ranked by cosine similarity (the vectors are unit length)."""
    by_qname = {row.qname: row for row in rows.values() if row.qname != exclude}
    names = sorted(by_qname)
    scores = embed([by_qname[name].text for name in names]) @ query
    return [names[i] for i in np.argsort(-scores, kind="stable")[:k]]


@pytest.mark.parametrize(("name", "words"), [
    ("parse_event", "parse event"), ("renderLoginForm", "render login form"), ("HTTPServer", "http server"),
    ("__init__", "init"), ("Cart.add", "cart add"), ("getURLFor2", "get url for 2"),
])
def test_identifiers_become_words(name: str, words: str) -> None:
    assert identifier_words(name) == words


def test_the_model_loads_from_the_wheel_with_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access: {args}")

    model.cache_clear()
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    vectors = embed(["def parse_event(raw): return json.loads(raw)", "class Cart: pass"])
    assert vectors.shape == (2, DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors, embed(["def parse_event(raw): return json.loads(raw)", "class Cart: pass"]))
    assert embed([]).shape == (0, DIM)


def test_every_class_and_function_is_embedded_with_its_source_and_nothing_else(rows: dict) -> None:
    assert {row.qname for row in rows.values()} == sample.CLASSES | sample.FUNCTIONS
    assert {row.kind for row in rows.values()} == {"class", "function"}
    line_total = next(row for row in rows.values() if row.qname == "api/pricing.py::line_total")
    assert line_total.text.startswith("function line total\napi pricing py\ndef line_total(")
    assert "product.price * qty" in line_total.text


def test_same_behaviour_across_languages_is_nearest(rows: dict) -> None:
    """The Python quantity check's nearest entity is the TypeScript one; the two cart totals find each other."""
    by_qname = {row.qname: row for row in rows.values()}
    check = embed([by_qname["api/validation.py::check_quantity"].text])[0]
    assert nearest(rows, check, 1, exclude="api/validation.py::check_quantity") == [
        "web/src/models/cart.ts::CartModel.validate"]
    total = embed([by_qname["web/src/models/cart.ts::CartModel.total"].text])[0]
    assert nearest(rows, total, 1, exclude="web/src/models/cart.ts::CartModel.total") == [
        "web/src/models/discountedCart.ts::DiscountedCart.total"]


@pytest.mark.parametrize(("text", "expected"), [
    ("send the customer an email receipt", "api/notify.py::send_receipt"),
    ("format money as a price string", "web/src/utils/money.ts::formatPrice"),
])
def test_a_description_finds_the_code_that_does_it(rows: dict, text: str, expected: str) -> None:
    assert nearest(rows, embed([text])[0], 1) == [expected]


def test_vector_literal_is_exact_and_refuses_what_pgvector_would() -> None:
    vector = embed(["def f(): pass"])[0]
    parsed = np.array(vector_literal(vector).strip("[]").split(","), dtype=np.float32)
    assert np.array_equal(parsed, vector)
    with pytest.raises(ValueError, match="finite"):
        vector_literal(np.full(DIM, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="256"):
        vector_literal(np.zeros(3, dtype=np.float32))


def test_the_similar_options_are_registered_and_printed() -> None:
    args = build_parser().parse_args(["graph", "shop", "--like", "Cart.add", "--limit", "3"])
    assert args.handler is cmd_graph and (args.like, args.limit) == ("Cart.add", 3)
    args = build_parser().parse_args(["graph", "shop", "--like-text", "format a price"])
    assert args.like_text == "format a price"
    lines = format_similar("api/models.py::Cart.add (function)", [
        {"similarity": 0.81234, "kind": "function", "qname": "web/src/models/cart.ts::CartModel.add"}])
    assert lines == ["code like api/models.py::Cart.add (function):",
                     "  0.812  function web/src/models/cart.ts::CartModel.add"]
    assert format_similar("'x'", []) == ["code like 'x':", "  -"]
