"""The code knowledge graph's extraction on hostile input: no exception escapes but the routed ones, every result
is well-formed, time is bounded; plus one regression test per bomb found (FIFO, inheritance cycles, caps...)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from argus_streams.contract.dead_letters import SourceRecord
from argus_streams.contract.events import ArgusEvent
from argus_streams.errors import ArgusStreamsError, EventValidationError
from argus_streams.knowledge_graph import analyze, extract
from argus_streams.knowledge_graph.cognify import diff
from argus_streams.knowledge_graph.enrich import documents
from argus_streams.knowledge_graph.extract import Resolver, extract_codebase, parse_source, read_files
from argus_streams.knowledge_graph.logic import KeyLocks, analyzed_event, graph_row, parse_request
from argus_streams.knowledge_graph.model import CLASS, FUNCTION, MAX_REF_PARTS, Import, ParsedFile, Symbol
from argus_streams.knowledge_graph.paths import (
    MAX_PATH_CHARS,
    CodebaseError,
    Deadline,
    ExtractionTimeout,
    PathRefused,
    source_files,
)

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BIG = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECONDS_PER_EXAMPLE = 1.0  # CPU seconds (process_time: the benchmark sharing the machine does not count)

# Text that used to hurt: nesting, long member chains, inheritance, suites, repeated tokens.
FRAGMENTS = ["(", ")", "[", "]", "{", "}", "<", ">", ".", ",", ":", ";", "\n", "    ", " ", "'", '"', "`", "\\",
             "a", "A", "self", "this", "super", "class ", "def ", "function ", "=>", "return ", "import ", "from ",
             "export ", "describe('s', () => {", "it('t', () => {", "});", "new ", "extends ", "not ", "+", "@",
             "#", "/*", "*/", "//", "\x00", "\xff", "é", "async ", "lambda ", "yield "]
PY_SUFFIXES = ["a.py", "test_a.py", "pkg/__init__.py"]
JS_SUFFIXES = ["a.js", "a.ts", "a.tsx", "a.test.ts", "a.jsx", "a.mjs", "__tests__/a.cts"]


@contextmanager
def cpu_bounded(limit: float = SECONDS_PER_EXAMPLE) -> Iterator[None]:
    started = time.process_time()
    yield
    spent = time.process_time() - started
    assert spent < limit, f"{spent:.2f} s of CPU"


@contextmanager
def alarm(seconds: int = 10) -> Iterator[None]:
    """Fail instead of hanging the suite (a blocked open() of a FIFO is interrupted by the signal)."""
    def fire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: it would have hung")
    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def well_formed(parsed: ParsedFile, path: str) -> None:
    assert parsed.path == path and parsed.language in ("python", "javascript", "typescript", "tsx")
    assert parsed.error is None or (isinstance(parsed.error, str) and not parsed.symbols)
    qnames = [s.qname for s in parsed.symbols]
    assert all(isinstance(q, str) and q for q in qnames)
    for symbol in parsed.symbols:
        assert symbol.kind in ("class", "function", "test")
        assert all(len(ref.split(".")) <= MAX_REF_PARTS for ref in (*symbol.calls, *symbol.bases))


def hostile(min_size: int = 0, max_size: int = 200) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=5), min_size=min_size, max_size=max_size) \
        .map("".join)


def repeated(pieces: list[str]) -> st.SearchStrategy[str]:
    """One token repeated thousands of times, optionally closed: the inputs that backtrack or recurse."""
    return st.tuples(st.sampled_from(pieces), st.integers(1_000, 60_000), st.booleans()).map(
        lambda t: t[0] * t[1] + (t[0][::-1].translate(str.maketrans("([{<", ")]}>")) * t[1] if t[2] else ""))


# --- Source text ------------------------------------------------------------------------------------------------


@FUZZ
@given(text=hostile(), path=st.sampled_from(PY_SUFFIXES + JS_SUFFIXES))
def test_arbitrary_source_text_parses_or_reports_an_error(text: str, path: str) -> None:
    with cpu_bounded():
        parsed = parse_source(path, text.encode("utf-8", errors="surrogatepass"))
    well_formed(parsed, path)


@FUZZ
@given(data=st.binary(max_size=2_000), path=st.sampled_from(PY_SUFFIXES + JS_SUFFIXES))
def test_arbitrary_bytes_parse_or_report_an_error(data: bytes, path: str) -> None:
    with cpu_bounded():
        well_formed(parse_source(path, data), path)


PY_BOMBS = ["(", "[", "{", "not ", "-", "a.", "a + ", "lambda: ", "f(", "    ", "if x:\n" + " ", "@d\n", "'''"]
JS_BOMBS = ["(", "[", "{", "a.", "<b", "x => ", "new ", "!", "`${", "describe('s', () => {", "/*", "a?.", "<A>"]


@BIG
@given(text=repeated(PY_BOMBS), tail=hostile(max_size=20))
def test_deeply_nested_and_repeated_python_is_bounded(text: str, tail: str) -> None:
    source = f"def f():\n    return {text}{tail}\n"
    with cpu_bounded(2 * SECONDS_PER_EXAMPLE):  # up to 360 KB of source: the same bound per ~180 KB
        parsed = parse_source("a.py", source.encode())
    well_formed(parsed, "a.py")


@BIG
@given(text=repeated(JS_BOMBS), path=st.sampled_from(JS_SUFFIXES))
def test_deeply_nested_and_repeated_javascript_is_bounded(text: str, path: str) -> None:
    with cpu_bounded(2 * SECONDS_PER_EXAMPLE):
        parsed = parse_source(path, f"function f() {{ {text} }}\n".encode())
    well_formed(parsed, path)


@BIG
@given(length=st.integers(10_000, 900_000), quote=st.sampled_from(["'", '"', "`", "//", "#"]))
def test_huge_lines_are_linear(length: int, quote: str) -> None:
    line = f"x = {quote}{'a' * length}{quote}\n"
    for path in ("a.py", "a.js"):
        with cpu_bounded():
            well_formed(parse_source(path, line.encode()), path)


def test_a_member_chain_past_the_cap_is_dropped_not_a_file_error() -> None:
    deep = "a" + ".b" * 5_000  # recursed per member before: RecursionError made the whole file an error
    short = "a" + ".b" * (MAX_REF_PARTS - 1)
    for path, source in (("a.js", f"function f() {{ {deep}(); {short}(); }}"),
                         ("a.py", f"def f():\n    {short}()\n")):
        parsed = parse_source(path, source.encode())
        assert parsed.error is None and parsed.symbols[0].calls == [short], path


# --- Name resolution --------------------------------------------------------------------------------------------

NAMES = ["A", "B", "C", "A.x", "self", "B.C", "m.A"]


@st.composite
def class_graphs(draw: st.DrawFn) -> list[ParsedFile]:
    """Files of classes whose bases are any names (themselves, each other, dotted), with self/super calls."""
    files = []
    for index in range(draw(st.integers(1, 3))):
        symbols = []
        for name in draw(st.lists(st.sampled_from(["A", "B", "C", "D"]), min_size=1, max_size=4, unique=True)):
            bases = draw(st.lists(st.sampled_from(NAMES), max_size=40))
            symbols.append(Symbol(CLASS, name, name, "", bases=bases))
            for method in draw(st.lists(st.sampled_from(["f", "g", "h"]), max_size=3, unique=True)):
                calls = draw(st.lists(st.sampled_from(["self.f", "self.g", "super.h", "A.f", "m.A", "self.z"]),
                                      max_size=4))
                symbols.append(Symbol(FUNCTION, f"{name}.{method}", method, "", parent=name, calls=calls))
        imports = [Import(f"m{(index + 1) % 3}", {"m": "*"})]
        files.append(ParsedFile(f"m{index}.py", "python", str(index), symbols=symbols, imports=imports))
    return files


@FUZZ
@given(files=class_graphs())
def test_any_inheritance_graph_resolves_in_bounded_time(files: list[ParsedFile]) -> None:
    with cpu_bounded():
        extraction = extract.resolve(files)
    for relation in extraction.relations:
        assert relation.src in extraction.entities and relation.dst in extraction.entities


def calls_of(source: str) -> set[tuple[str, str]]:
    files = [parse_source("a.py", source.encode())]
    return {(r.src[1], r.dst[1]) for r in extract.resolve(files).relations if r.type == "CALLS"}


def test_a_class_that_inherits_itself_resolves_its_own_methods() -> None:
    source = ("class A(" + ", ".join(["A"] * 50) + "):\n"  # 50^8 walks before: it never ended
              "    def f(self):\n        self.g()\n        self.missing()\n"
              "    def g(self):\n        pass\n")
    with alarm(), cpu_bounded():
        assert calls_of(source) == {("a.py::A.f", "a.py::A.g")}


def test_an_inheritance_cycle_resolves_each_method_once() -> None:
    source = ("class A(B):\n    def f(self):\n        self.g()\n        self.missing()\n"
              "class B(A):\n    def g(self):\n        self.f()\n    def h(self):\n        super.f()\n"
              "class C(C.x, C.x):\n    def x(self):\n        self.y()\n")  # re-entered method lookup: RecursionError
    with alarm(), cpu_bounded():
        assert calls_of(source) == {("a.py::A.f", "a.py::B.g"), ("a.py::B.g", "a.py::A.f"),
                                    ("a.py::B.h", "a.py::A.f")}


def test_a_long_chain_is_followed_max_depth_levels() -> None:
    chain = "class K0:\n    def m(self):\n        pass\n" + "".join(f"class K{i}(K{i - 1}):\n    pass\n"
                                                                   for i in range(1, 200))
    chain += "".join(f"def use{i}(k: K{i}):\n    K{i}().m()\n" for i in (3, 8, 9, 150))
    files = [parse_source("a.py", chain.encode())]
    resolver = Resolver(files)
    assert resolver.method(("a.py", "K8"), "m") == ("a.py", "K0.m")  # 8 levels up
    assert resolver.method(("a.py", "K9"), "m") is None  # MAX_DEPTH: not followed further
    assert resolver.method(("a.py", "K150"), "m") is None


def test_the_resolver_checks_its_deadline() -> None:
    files = [parse_source("a.py", b"class A(A):\n    def f(self):\n        self.g()\n" * 300)]
    with pytest.raises(ExtractionTimeout):
        extract.resolve(files, deadline=Deadline(-1))


# --- The file system --------------------------------------------------------------------------------------------


def test_a_fifo_in_the_codebase_is_skipped_and_counted(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def f():\n    pass\n")
    os.mkfifo(tmp_path / "pipe.py")  # opening it for reading blocked forever before
    os.mkfifo(tmp_path / "README.md")
    with alarm():
        extraction = extract_codebase(tmp_path)
        docs = documents(tmp_path)
    assert [f.path for f in extraction.files] == ["a.py"]
    assert extraction.skipped == {"not_regular": 1} and extraction.skipped_count == 1
    assert docs == []
    with alarm():
        parsed = extract.parse_file("pipe.py", tmp_path / "pipe.py")  # read directly: refused from the descriptor
    assert parsed.error is not None and parsed.error.startswith("NotRegularFile")


def test_a_symlink_out_of_the_root_is_counted_and_a_dangling_one_is_an_error(tmp_path: Path) -> None:
    base, outside = tmp_path / "base", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    (outside / "secret.py").write_text("def leak():\n    pass\n")
    (base / "leak.py").symlink_to(outside / "secret.py")
    (base / "gone.py").symlink_to(base / "nowhere.py")
    (base / "gone.md").symlink_to(base / "nowhere.md")  # documents() raised FileNotFoundError (task failure)
    extraction = extract_codebase(base)
    assert extraction.skipped == {"outside_root": 1}
    assert extraction.parse_errors == {"gone.py": "FileNotFoundError: No such file or directory"}
    assert documents(base) == []


def write_files(base: Path, sizes: dict[str, int]) -> None:
    for name, size in sizes.items():
        (base / name).write_text("x = 1\n" + "#" * (size - 6) + "\n" if size > 7 else "\n")


def test_files_over_the_size_cap_are_errors_and_counted(tmp_path: Path) -> None:
    write_files(tmp_path, {"a.py": 100, "b.py": 2_000, "c.py": 3_000, "d.py": 10})
    files, skipped = read_files(tmp_path, Deadline(), max_file_bytes=1_000)
    assert [f.path for f in files] == ["a.py", "b.py", "c.py", "d.py"]
    assert {f.path: f.error for f in files if f.error} == {"b.py": "FileTooLarge: 2001 bytes (max 1000)",
                                                          "c.py": "FileTooLarge: 3001 bytes (max 1000)"}
    assert skipped == {"too_large": 2}


def test_files_over_the_count_and_byte_caps_are_not_read_and_counted(tmp_path: Path) -> None:
    write_files(tmp_path, {f"f{i}.py": 100 for i in range(7)})
    files, skipped = read_files(tmp_path, Deadline(), max_files=3)
    assert [f.path for f in files] == ["f0.py", "f1.py", "f2.py"] and skipped == {"max_files": 4}
    files, skipped = read_files(tmp_path, Deadline(), max_total_bytes=250)  # 101 bytes each: two fit
    assert [f.path for f in files] == ["f0.py", "f1.py"] and skipped == {"max_total_bytes": 5}


def test_the_walk_is_capped_in_depth_and_entries(tmp_path: Path) -> None:
    directory = tmp_path
    for level in range(5):
        directory = directory / f"d{level}"
        directory.mkdir()
        (directory / "m.py").write_text("\n")
    skipped: dict = __import__("collections").Counter()
    found = [rel for rel, _ in source_files(tmp_path, skipped=skipped, max_depth=2)]
    assert found == ["d0/m.py", "d0/d1/m.py"] and skipped == {"too_deep": 1}
    skipped.clear()
    assert [rel for rel, _ in source_files(tmp_path, skipped=skipped, max_entries=3)] == ["d0/m.py"]
    assert skipped == {"walk_truncated": 1}


def test_a_tree_deeper_than_the_recursion_limit_is_walked(tmp_path: Path) -> None:
    here = Path.cwd()
    os.chdir(tmp_path)
    try:
        for _ in range(1_100):  # os.walk recursed: RecursionError
            os.mkdir("a")
            os.chdir("a")
        Path("deep.py").write_text("\n")
    finally:
        os.chdir(here)
    try:
        extraction = extract_codebase(tmp_path)
        assert extraction.files == [] and extraction.skipped == {"too_deep": 1}
    finally:
        remove_deep_tree(tmp_path / "a")  # pytest's recursive clean-up would hit the recursion limit


def remove_deep_tree(top: Path) -> None:
    """Delete a chain of nested folders deepest first, without recursion (paths stay short: chdir down)."""
    here, depth = Path.cwd(), 0
    try:
        os.chdir(top)
        while (sub := [e.name for e in os.scandir(".") if e.is_dir(follow_symlinks=False)]):
            os.chdir(sub[0])
            depth += 1
        for _ in range(depth + 1):
            for entry in os.scandir("."):
                if not entry.is_dir(follow_symlinks=False):
                    os.unlink(entry.name)
            name = Path.cwd().name
            os.chdir("..")
            os.rmdir(name)
    finally:
        os.chdir(here)


def test_a_runaway_codebase_is_an_extraction_timeout(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop/a.py").write_text("\n")
    with pytest.raises(ExtractionTimeout) as raised:
        analyze("shop", tmp_path, "acme", "shop", deadline_s=-1)
    assert isinstance(raised.value, EventValidationError) and raised.value.field == "payload.codebase_path"


# --- Events -----------------------------------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                  max_size=4), max_leaves=20)
PATHS = st.sampled_from(["shop", "../x", "/etc", "shop/../..", "file:///etc", "file://h/x", "", "\x00", "a" * 5_000,
                         "file:shop", "shop/a.py", "./shop", "%2e%2e/x", "shop\x00x"]) | st.text(max_size=40)


def record_of(payload: object, kind: str = "codebase.ingested") -> SourceRecord:
    value = ArgusEvent.new(kind, source="test", tenant_id="acme", payload={}).to_dict()
    value["payload"] = payload
    return SourceRecord(topic="t", partition=0, offset=1, key="k", value=json.dumps(value).encode())


@pytest.fixture(scope="module")
def codebase_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    (root / "shop").mkdir()
    (root / "shop/a.py").write_text("class A(A):\n    def f(self):\n        self.f()\n")
    os.mkfifo(root / "shop/b.py")
    return root


@FUZZ
@given(payload=st.fixed_dictionaries({}, optional={"project_id": JSON | st.just("shop"), "codebase_path": PATHS | JSON,
                                                   "commit_sha": JSON}) | JSON)
def test_arbitrary_codebase_payloads_are_routed_errors_or_analysed(payload: object, codebase_root: Path) -> None:
    try:
        request = parse_request(record_of(payload))
    except ArgusStreamsError as exc:  # EventValidationError: the DLQ's
        assert isinstance(exc, EventValidationError)
        return
    with alarm(), cpu_bounded():
        try:
            graph, extraction = analyze(request.payload.codebase_path, codebase_root, "acme", "shop")
        except CodebaseError:
            return
    event = analyzed_event(request, graph, extraction, diff(graph, {}, set()), 1.0)
    assert event.payload["files_skipped"] == sum(event.payload["skipped_files"].values())


@pytest.mark.parametrize("path", ["a" * (MAX_PATH_CHARS + 1), "shop\x00"])
def test_absurd_codebase_paths_are_refused_at_parse(path: str, codebase_root: Path) -> None:
    with pytest.raises(EventValidationError):
        parse_request(record_of({"project_id": "shop", "codebase_path": path}))
    with pytest.raises(PathRefused):
        analyze(path, codebase_root, "acme", "shop")


def test_the_analyzed_event_reports_what_was_skipped(codebase_root: Path) -> None:
    request = parse_request(record_of({"project_id": "shop", "codebase_path": "shop"}))
    graph, extraction = analyze("shop", codebase_root, "acme", "shop")
    event = analyzed_event(request, graph, extraction, diff(graph, {}, set()), 1.0)
    assert event.payload["files"] == 1 and event.payload["skipped_files"] == {"not_regular": 1}
    assert event.payload["files_skipped"] == 1


@FUZZ
@given(spec=JSON, targets=JSON)
def test_arbitrary_test_created_payloads_are_rows_or_validation_errors(spec: object, targets: object) -> None:
    payload = {"test_id": "t", "test_name": "n", "test_type": "unit", "project_id": "shop", "test_spec": spec,
               "targets": targets}
    try:
        row = graph_row(parse_request(record_of(payload, "test.created")))
    except EventValidationError:
        return
    assert all(isinstance(t, str) for t in row["targets"])


def test_too_many_or_too_long_targets_and_unencodable_specs_are_validation_errors() -> None:
    base = {"test_id": "t", "test_name": "n", "test_type": "unit", "project_id": "shop"}
    for extra in ({"targets": ["f"] * 1_001}, {"targets": ["f" * 1_001]}):
        with pytest.raises(EventValidationError):
            graph_row(parse_request(record_of({**base, **extra}, "test.created")))
    nested: list = []
    for _ in range(5_000):
        nested = [nested]
    request = parse_request(record_of({**base, "test_spec": "x"}, "test.created"))
    object.__setattr__(request.payload, "test_spec", nested)  # deeper than the envelope parser would pass
    with pytest.raises(EventValidationError):
        graph_row(request)


def test_key_locks_serialise_a_key_and_keep_only_keys_in_flight() -> None:
    locks, order = KeyLocks(), []

    async def work(key: str, tag: int) -> None:
        async with locks.hold(key):
            order.append((tag, "in"))
            await asyncio.sleep(0)
            order.append((tag, "out"))

    async def main() -> int:
        await asyncio.gather(*(work("p", tag) for tag in range(3)), work("q", 9))
        return len(locks)

    assert asyncio.run(main()) == 0  # a dict of locks grew with every project ever seen
    same_key = [event for event in order if event[0] != 9]
    assert same_key == [(0, "in"), (0, "out"), (1, "in"), (1, "out"), (2, "in"), (2, "out")]
