"""The extractor on the sample codebase (tests/codegraph_sample/shop): every entity and edge, written by hand."""

from __future__ import annotations

from pathlib import Path

from argus_streams.knowledge_graph.extract import extract_codebase
from argus_streams.knowledge_graph.model import Extraction

SAMPLE = Path(__file__).resolve().parents[1] / "codegraph_sample" / "shop"

PY_FILES = {
    "api/__init__.py", "api/base.py", "api/models.py", "api/notify.py", "api/pricing.py", "api/repositories.py",
    "api/routes.py", "api/services.py", "api/validation.py",
}
PY_TEST_FILES = {"tests/conftest.py", "tests/test_cart.py", "tests/test_pricing.py"}
TS_FILES = {
    "web/server/handlers.ts", "web/server/routes.ts", "web/src/App.tsx", "web/src/api/cartApi.ts",
    "web/src/api/client.ts", "web/src/components/CartView.tsx", "web/src/components/LineItem.tsx",
    "web/src/index.ts", "web/src/models/cart.ts", "web/src/models/discountedCart.ts", "web/src/pages/Checkout.tsx",
    "web/src/utils/money.ts",
}
TS_TEST_FILES = {"web/src/components/CartView.test.tsx", "web/src/models/cart.test.ts"}

CLASSES = {
    "api/base.py::Repository", "api/models.py::Cart", "api/models.py::Product",
    "api/repositories.py::CartRepository", "api/validation.py::ValidationError", "tests/test_cart.py::TestCart",
    "web/src/api/client.ts::ApiError", "web/src/models/cart.ts::CartModel",
    "web/src/models/discountedCart.ts::DiscountedCart", "web/src/pages/Checkout.tsx::Checkout",
}
FUNCTIONS = {
    "api/base.py::Repository.__init__", "api/base.py::Repository.get", "api/base.py::Repository.save",
    "api/models.py::Cart.__init__", "api/models.py::Cart.add", "api/models.py::Cart.total",
    "api/notify.py::format_receipt", "api/notify.py::send_receipt",
    "api/pricing.py::apply_discount", "api/pricing.py::discount_rate", "api/pricing.py::line_total",
    "api/repositories.py::CartRepository.load",
    "api/routes.py::_load", "api/routes.py::add_item", "api/routes.py::get_cart", "api/routes.py::post_checkout",
    "api/services.py::checkout", "api/validation.py::check_quantity",
    "tests/conftest.py::cart", "tests/test_cart.py::make_cart",
    "web/server/handlers.ts::getCart", "web/server/handlers.ts::loadCart", "web/server/handlers.ts::postItem",
    "web/src/App.tsx::App", "web/src/api/cartApi.ts::addItem", "web/src/api/cartApi.ts::submitOrder",
    "web/src/api/client.ts::ApiError.constructor", "web/src/api/client.ts::fetchCart",
    "web/src/api/client.ts::request", "web/src/components/CartView.tsx::CartView",
    "web/src/components/LineItem.tsx::LineItem", "web/src/models/cart.ts::CartModel.add",
    "web/src/models/cart.ts::CartModel.total", "web/src/models/cart.ts::CartModel.validate",
    "web/src/models/cart.ts::sumLines", "web/src/models/discountedCart.ts::DiscountedCart.constructor",
    "web/src/models/discountedCart.ts::DiscountedCart.total", "web/src/pages/Checkout.tsx::Checkout.render",
    "web/src/utils/money.ts::applyRate", "web/src/utils/money.ts::formatPrice",
}
TESTS = {
    "tests/test_cart.py::TestCart.test_rejects_zero", "tests/test_cart.py::TestCart.test_total",
    "tests/test_pricing.py::test_discount", "tests/test_pricing.py::test_line_total",
    "web/src/components/CartView.test.tsx::renders the discounted total",
    "web/src/models/cart.test.ts::CartModel > adds lines",
    "web/src/models/cart.test.ts::CartModel > rejects a zero quantity",
    "web/src/models/cart.test.ts::formats cents",
}

IMPORTS = {
    ("api/models.py", "api/pricing.py"), ("api/models.py", "api/validation.py"),
    ("api/repositories.py", "api/base.py"), ("api/repositories.py", "api/models.py"),
    ("api/routes.py", "api/models.py"), ("api/routes.py", "api/repositories.py"), ("api/routes.py", "api/services.py"),
    ("api/services.py", "api/__init__.py"), ("api/services.py", "api/notify.py"), ("api/services.py", "api/pricing.py"),
    ("tests/conftest.py", "api/models.py"), ("tests/test_cart.py", "api/models.py"),
    ("tests/test_cart.py", "api/validation.py"), ("tests/test_pricing.py", "api/models.py"),
    ("tests/test_pricing.py", "api/pricing.py"),
    ("web/server/routes.ts", "web/server/handlers.ts"),
    ("web/src/App.tsx", "web/src/components/CartView.tsx"), ("web/src/App.tsx", "web/src/models/cart.ts"),
    ("web/src/App.tsx", "web/src/pages/Checkout.tsx"), ("web/src/api/cartApi.ts", "web/src/api/client.ts"),
    ("web/src/components/CartView.test.tsx", "web/src/components/CartView.tsx"),
    ("web/src/components/CartView.test.tsx", "web/src/models/discountedCart.ts"),
    ("web/src/components/CartView.tsx", "web/src/components/LineItem.tsx"),
    ("web/src/components/CartView.tsx", "web/src/models/cart.ts"),
    ("web/src/components/CartView.tsx", "web/src/utils/money.ts"),
    ("web/src/components/LineItem.tsx", "web/src/models/cart.ts"),
    ("web/src/components/LineItem.tsx", "web/src/utils/money.ts"),
    ("web/src/index.ts", "web/src/models/cart.ts"), ("web/src/index.ts", "web/src/utils/money.ts"),
    ("web/src/models/cart.test.ts", "web/src/models/cart.ts"),
    ("web/src/models/cart.test.ts", "web/src/utils/money.ts"),
    ("web/src/models/discountedCart.ts", "web/src/models/cart.ts"),
    ("web/src/models/discountedCart.ts", "web/src/utils/money.ts"),
    ("web/src/pages/Checkout.tsx", "web/src/api/cartApi.ts"),
}
# Calls resolved within the project ("file::Qual.name" shortened: the file is named once per group).
CALLS = {
    ("api/models.py::Cart.add", "api/validation.py::check_quantity"),
    ("api/models.py::Cart.total", "api/pricing.py::line_total"),
    ("api/notify.py::send_receipt", "api/notify.py::format_receipt"),
    ("api/pricing.py::apply_discount", "api/pricing.py::discount_rate"),
    ("api/repositories.py::CartRepository.load", "api/models.py::Cart"),  # a constructor call
    ("api/repositories.py::CartRepository.load", "api/base.py::Repository.get"),  # inherited via self.get
    ("api/routes.py::add_item", "api/models.py::Product"),
    ("api/routes.py::add_item", "api/routes.py::_load"),
    ("api/routes.py::get_cart", "api/routes.py::_load"),
    ("api/routes.py::post_checkout", "api/routes.py::_load"),
    ("api/routes.py::post_checkout", "api/services.py::checkout"),
    ("api/services.py::checkout", "api/notify.py::send_receipt"),  # through `from api import notify`
    ("api/services.py::checkout", "api/pricing.py::apply_discount"),
    ("api/validation.py::check_quantity", "api/validation.py::ValidationError"),
    ("tests/conftest.py::cart", "api/models.py::Cart"),
    ("tests/test_cart.py::make_cart", "api/models.py::Cart"),
    ("tests/test_cart.py::make_cart", "api/models.py::Product"),
    ("tests/test_cart.py::TestCart.test_total", "tests/test_cart.py::make_cart"),  # a helper: CALLS, not TESTS
    ("web/server/handlers.ts::getCart", "web/server/handlers.ts::loadCart"),
    ("web/server/handlers.ts::postItem", "web/server/handlers.ts::loadCart"),
    ("web/src/App.tsx::App", "web/src/components/CartView.tsx::CartView"),  # <CartView /> renders it
    ("web/src/App.tsx::App", "web/src/pages/Checkout.tsx::Checkout"),  # default import
    ("web/src/api/cartApi.ts::addItem", "web/src/api/client.ts::request"),
    ("web/src/api/cartApi.ts::submitOrder", "web/src/api/client.ts::request"),
    ("web/src/api/client.ts::fetchCart", "web/src/api/client.ts::request"),
    ("web/src/api/client.ts::request", "web/src/api/client.ts::ApiError"),
    ("web/src/components/CartView.tsx::CartView", "web/src/components/LineItem.tsx::LineItem"),
    ("web/src/components/CartView.tsx::CartView", "web/src/utils/money.ts::formatPrice"),
    ("web/src/components/LineItem.tsx::LineItem", "web/src/utils/money.ts::formatPrice"),
    ("web/src/models/cart.ts::CartModel.add", "web/src/models/cart.ts::CartModel.validate"),
    ("web/src/models/cart.ts::CartModel.total", "web/src/models/cart.ts::sumLines"),
    ("web/src/models/discountedCart.ts::DiscountedCart.total", "web/src/models/cart.ts::CartModel.total"),  # super
    ("web/src/models/discountedCart.ts::DiscountedCart.total", "web/src/utils/money.ts::applyRate"),
    ("web/src/pages/Checkout.tsx::Checkout.render", "web/src/api/cartApi.ts::submitOrder"),
}
EXTENDS = {
    ("api/repositories.py::CartRepository", "api/base.py::Repository"),
    ("web/src/models/discountedCart.ts::DiscountedCart", "web/src/models/cart.ts::CartModel"),
}
TESTED = {
    ("tests/test_cart.py::TestCart.test_rejects_zero", "api/models.py::Cart"),
    ("tests/test_cart.py::TestCart.test_rejects_zero", "api/models.py::Product"),
    ("tests/test_pricing.py::test_discount", "api/pricing.py::apply_discount"),
    ("tests/test_pricing.py::test_line_total", "api/models.py::Product"),
    ("tests/test_pricing.py::test_line_total", "api/pricing.py::line_total"),
    ("web/src/components/CartView.test.tsx::renders the discounted total",
     "web/src/models/discountedCart.ts::DiscountedCart"),
    ("web/src/components/CartView.test.tsx::renders the discounted total", "web/src/components/CartView.tsx::CartView"),
    ("web/src/models/cart.test.ts::CartModel > adds lines", "web/src/models/cart.ts::CartModel"),
    ("web/src/models/cart.test.ts::CartModel > adds lines", "web/src/models/cart.ts::sumLines"),
    ("web/src/models/cart.test.ts::CartModel > rejects a zero quantity", "web/src/models/cart.ts::CartModel"),
    ("web/src/models/cart.test.ts::formats cents", "web/src/utils/money.ts::formatPrice"),
}
ROUTES = {
    "api/routes.py::get_cart": "GET /api/carts/<cart_id>",
    "api/routes.py::add_item": "POST /api/carts/<cart_id>/items",
    "api/routes.py::post_checkout": "POST /api/carts/<cart_id>/checkout",
    "web/server/handlers.ts::getCart": "GET /api/carts/:id",
    "web/server/handlers.ts::postItem": "POST /api/carts/:id/items",
    "web/src/components/CartView.tsx::CartView": "PAGE /cart",
    "web/src/pages/Checkout.tsx::Checkout": "PAGE /checkout",
}
COMPONENTS = {
    "web/src/App.tsx::App", "web/src/components/CartView.tsx::CartView", "web/src/components/LineItem.tsx::LineItem",
    "web/src/pages/Checkout.tsx::Checkout",
}


def kind_of(qname: str) -> str:
    if "::" not in qname:
        return "file"
    if qname in CLASSES:
        return "class"
    return "test" if qname in TESTS else "function"


def relation_set(extraction: Extraction, kind: str) -> set[tuple[str, str]]:
    return {(r.src[1], r.dst[1]) for r in extraction.relations if r.type == kind}


def expected_defines() -> set[tuple[str, str]]:
    """Every symbol is defined by its class (methods) or else by its file."""
    pairs = set()
    for qname in CLASSES | FUNCTIONS | TESTS:
        path, _, local = qname.partition("::")
        owner = f"{path}::{local.split('.')[0]}" if "." in local and " > " not in local else path
        pairs.add((owner, qname))
    return pairs


def test_the_sample_is_big_enough() -> None:
    assert len(PY_FILES | PY_TEST_FILES | TS_FILES | TS_TEST_FILES) >= 20


def test_files_and_entities_are_exactly_the_sample_s() -> None:
    extraction = extract_codebase(SAMPLE)
    assert extraction.parse_errors == {}
    by_kind: dict[str, set[str]] = {}
    for kind, qname in extraction.entities:
        by_kind.setdefault(kind, set()).add(qname)
    assert by_kind == {"file": PY_FILES | PY_TEST_FILES | TS_FILES | TS_TEST_FILES, "class": CLASSES,
                       "function": FUNCTIONS, "test": TESTS}


def test_edges_are_exactly_the_sample_s() -> None:
    extraction = extract_codebase(SAMPLE)
    assert {r.type for r in extraction.relations} == {"DEFINES", "IMPORTS", "CALLS", "EXTENDS", "TESTS"}
    assert relation_set(extraction, "DEFINES") == expected_defines()
    assert relation_set(extraction, "IMPORTS") == IMPORTS
    assert relation_set(extraction, "CALLS") == CALLS
    assert relation_set(extraction, "EXTENDS") == EXTENDS
    assert relation_set(extraction, "TESTS") == TESTED


def test_routes_components_and_test_files_are_recognised() -> None:
    extraction = extract_codebase(SAMPLE)
    props = {qname: dict(entity.props) for (_, qname), entity in extraction.entities.items()}
    assert {q: p["route"] for q, p in props.items() if "route" in p} == ROUTES
    assert {q for q, p in props.items() if p.get("component")} == COMPONENTS
    assert {q for q, p in props.items() if p.get("test") is True} == PY_TEST_FILES | TS_TEST_FILES
    assert {q: p["language"] for q, p in props.items() if kind_of(q) == "file" and p["language"] != "python"} == {
        **{path: "typescript" for path in TS_FILES | TS_TEST_FILES if path.endswith(".ts")},
        **{path: "tsx" for path in TS_FILES | TS_TEST_FILES if path.endswith(".tsx")},
    }
    assert props["api/routes.py::_load"]["exported"] is False  # private by its underscore
    assert props["web/server/handlers.ts::loadCart"]["exported"] is False  # not in an export statement
    assert props["web/src/api/client.ts::request"]["async"] is True
    assert props["api/models.py::Cart.add"]["method"] is True


def test_commonjs_require_binds_modules_and_names(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/util.js").write_text("function slug(s) { return s.trim(); }\nmodule.exports = { slug };\n")
    (tmp_path / "app.js").write_text(
        'const util = require("./lib/util");\nconst { slug: toSlug } = require("./lib/util.js");\n'
        "function a(x) { return util.slug(x); }\nfunction b(x) { return toSlug(x); }\n")
    extraction = extract_codebase(tmp_path)
    assert relation_set(extraction, "IMPORTS") == {("app.js", "lib/util.js")}
    assert relation_set(extraction, "CALLS") == {("app.js::a", "lib/util.js::slug"), ("app.js::b", "lib/util.js::slug")}


def test_python_relative_imports_and_package_re_exports(tmp_path: Path) -> None:
    (tmp_path / "pkg/sub").mkdir(parents=True)
    (tmp_path / "pkg/__init__.py").write_text("from .core import run\n")
    (tmp_path / "pkg/core.py").write_text("from .sub import util\n\n\ndef run():\n    return util.helper()\n")
    (tmp_path / "pkg/sub/__init__.py").write_text("")
    (tmp_path / "pkg/sub/util.py").write_text("from ..core import run\n\n\ndef helper():\n    return 1\n")
    (tmp_path / "main.py").write_text("from pkg import run\n\n\ndef main():\n    run()\n")
    extraction = extract_codebase(tmp_path)
    assert relation_set(extraction, "CALLS") == {("main.py::main", "pkg/core.py::run"),
                                                  ("pkg/core.py::run", "pkg/sub/util.py::helper")}
    assert relation_set(extraction, "IMPORTS") == {
        ("main.py", "pkg/__init__.py"), ("pkg/__init__.py", "pkg/core.py"), ("pkg/core.py", "pkg/sub/__init__.py"),
        ("pkg/core.py", "pkg/sub/util.py"), ("pkg/sub/util.py", "pkg/core.py")}
