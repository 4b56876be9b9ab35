"""The layout's rules (docs/layout.md): what may import what, what the wheel holds, and old pickles still load."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "argus_streams"
PIPELINES = ("failures", "healing", "knowledge_graph", "dlq")
SHARED = ("contract", "bus", "flink", "stores", "errors", "settings", "home")


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules_under(*parts: str) -> list[Path]:
    out = []
    for part in parts:
        target = PACKAGE / part
        out += sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
    return out


def test_no_runtime_module_imports_the_development_package() -> None:
    offenders = {str(path.relative_to(ROOT)): sorted(name for name in imports_of(path) if name.startswith("argus_dev"))
                 for path in PACKAGE.rglob("*.py")}
    assert {path: names for path, names in offenders.items() if names} == {}
    for job in (ROOT / "jobs").glob("*.py"):
        assert not any(name.startswith("argus_dev") for name in imports_of(job)), job


def test_shared_layers_import_no_pipeline_and_the_contract_only_errors() -> None:
    pipelines = tuple(f"argus_streams.{name}" for name in (*PIPELINES, "cli"))
    for path in modules_under(*SHARED):
        upward = sorted(name for name in imports_of(path) if name.startswith(pipelines))
        assert upward == [], path.relative_to(ROOT)
    for path in modules_under("contract"):
        ours = {name for name in imports_of(path) if name.startswith("argus_streams")}
        assert all(name.startswith(("argus_streams.contract", "argus_streams.errors")) for name in ours), path


def test_every_pipeline_has_its_job_and_the_jobs_folder_only_calls_it() -> None:
    for name in PIPELINES:
        assert (PACKAGE / name / "job.py").is_file(), name
        entry = ROOT / "jobs" / f"{name}.py"
        assert imports_of(entry) == {f"argus_streams.{name}.job", f"argus_streams.{name}.job.main"}, entry


def test_the_wheel_holds_only_the_runtime_package(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy of what the build reads: the build writes build/ beside it
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "argus_streams", source / "argus_streams", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "dev", source / "dev", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(source)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("argus_streams-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert all(name.startswith(("argus_streams/", "argus_streams-")) for name in names), names
    assert not any(part in name for name in names for part in ("/stack/", "demo", "samples", "poison", "faults"))
    assert "argus_streams/failures/job.py" in names and "argus_streams/cli/__init__.py" in names


@pytest.mark.parametrize(("old", "new"), [
    ("argus_streams.events.ArgusEvent", "argus_streams.contract.events.ArgusEvent"),
    ("argus_streams.codegraph.requests.Request", "argus_streams.knowledge_graph.logic.Request"),
    ("argus_streams.dlq.Retry", "argus_streams.dlq.triage.Retry"),
    ("argus_streams.dlq.Review", "argus_streams.dlq.triage.Review"),
    ("argus_streams.dlq.SourceRecord", "argus_streams.contract.dead_letters.SourceRecord"),
    ("argus_streams.failures.TestHistory", "argus_streams.failures.logic.TestHistory"),
    ("argus_streams.failures.SignatureStats", "argus_streams.failures.logic.SignatureStats"),
    ("argus_streams.failures.EdgeTally", "argus_streams.failures.logic.EdgeTally"),
    ("argus_streams.healing.decisions.TestHealingState", "argus_streams.healing.decisions.TestHealingState"),
])
def test_a_class_pickled_under_its_old_module_path_loads_as_the_new_class(old: str, new: str) -> None:
    """What a checkpoint taken before the layout names (pickle's GLOBAL opcode: module, then name), read by a
    fresh interpreter, as a Python worker restoring it would."""
    module, name = old.rsplit(".", 1)
    code = ("import pickle, sys; cls = pickle.loads(sys.argv[1].encode('latin-1'));"
            "print(f'{cls.__module__}.{cls.__qualname__}')")
    pickled = f"c{module}\n{name}\n.".encode().decode("latin-1")
    done = subprocess.run([sys.executable, "-c", code, pickled], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == new


def test_the_dlq_job_which_writes_only_postgresql_loads_no_graph_client() -> None:
    code = ("import sys, argus_streams.dlq.job;"
            "print(sorted(m for m in ('redis', 'falkordb', 'neo4j', 'argus_dev') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
