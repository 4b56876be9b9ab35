"""The module paths before the layout of docs/architecture.md, as aliases of the new ones, for unpickling.

Flink state and the in-flight queues of async operators hold pickled objects, and pickle names a class by its
module path: a checkpoint taken before the move names `argus_streams.events.ArgusEvent`. `install()` (run when
`argus_streams` is imported, as unpickling does first) makes each old path import its new module, the same
module object, so such a checkpoint restores. Two old modules are packages now and re-export what they held:
`argus_streams.failures` and `argus_streams.dlq`. Nothing new imports an old path (`make lint` checks the tree).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

MOVED = {
    "argus_streams.admin": "argus_streams.bus.admin",
    "argus_streams.alerts": "argus_streams.dlq.alerts",
    "argus_streams.batching": "argus_streams.flink.batching",
    "argus_streams.breaker": "argus_streams.bus.breaker",
    "argus_streams.codegraph": "argus_streams.knowledge_graph",
    "argus_streams.codegraph.cognee_worker": "argus_streams.knowledge_graph.cognee_worker",
    "argus_streams.codegraph.cognify": "argus_streams.knowledge_graph.cognify",
    "argus_streams.codegraph.embed": "argus_streams.knowledge_graph.embed",
    "argus_streams.codegraph.enrich": "argus_streams.knowledge_graph.enrich",
    "argus_streams.codegraph.extract": "argus_streams.knowledge_graph.extract",
    "argus_streams.codegraph.frames": "argus_streams.knowledge_graph.frames",
    "argus_streams.codegraph.jsextract": "argus_streams.knowledge_graph.jsextract",
    "argus_streams.codegraph.model": "argus_streams.knowledge_graph.model",
    "argus_streams.codegraph.paths": "argus_streams.knowledge_graph.paths",
    "argus_streams.codegraph.pyextract": "argus_streams.knowledge_graph.pyextract",
    "argus_streams.codegraph.queries": "argus_streams.knowledge_graph.queries",
    "argus_streams.codegraph.requests": "argus_streams.knowledge_graph.logic",
    "argus_streams.codegraph.store": "argus_streams.knowledge_graph.store",
    "argus_streams.codegraph.vectors": "argus_streams.knowledge_graph.vectors",
    "argus_streams.events": "argus_streams.contract.events",
    "argus_streams.flink_jobs": "argus_streams.flink.cluster",
    "argus_streams.flink_kit": "argus_streams.flink.kit",
    "argus_streams.gateway": "argus_streams.bus.gateway",
    "argus_streams.graph": "argus_streams.failures.graph",
    "argus_streams.graph_queries": "argus_streams.failures.queries",
    "argus_streams.job_metrics": "argus_streams.flink.counters",
    "argus_streams.kafka_io": "argus_streams.bus.io",
    "argus_streams.lag": "argus_streams.bus.lag",
    "argus_streams.payloads": "argus_streams.contract.payloads",
    "argus_streams.pg": "argus_streams.stores.pg",
    "argus_streams.review": "argus_streams.dlq.review",
    "argus_streams.signature": "argus_streams.failures.signature",
    "argus_streams.sql_ddl": "argus_streams.flink.sql_ddl",
    "argus_streams.sql_runner": "argus_streams.flink.sql_runner",
    "argus_streams.topics": "argus_streams.contract.topics",
}


class _Aliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds only the old paths above (first, so an old package path never loads a new module twice)."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(MOVED[spec.name])
        self._specs[spec.name] = module.__spec__  # the import system sets the alias's spec on it next
        return module

    def exec_module(self, module: ModuleType) -> None:
        """The new module ran when it was imported: only its own spec is put back."""
        alias = module.__spec__.name if module.__spec__ is not None else ""
        if alias in self._specs:
            module.__spec__ = self._specs[alias]


def install() -> None:
    if not any(isinstance(finder, _Aliases) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Aliases())
