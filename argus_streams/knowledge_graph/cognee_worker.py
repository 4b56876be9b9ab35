"""The Cognee worker: runs in its own virtual environment (.venv-cognee), called by the knowledge-graph job.

    .venv-cognee/bin/python -P argus_streams/knowledge_graph/cognee_worker.py   (started by codegraph/enrich.py)

(-P: this folder must not be on sys.path, its requests.py would shadow the `requests` package.)

Cognee 1.6.5 cannot share the job's environment (its lancedb breaks on the pyarrow Beam pins), so it runs
here, as a child process speaking JSON lines: one request per line on stdin, one answer per line on the
real stdout (everything else that writes to stdout, cognee's logs included, goes to stderr).

    request: {"id": 1, "dataset": "acme/shop", "documents": [{"path": "docs/checkout.md", "text": "..."}]}
    answer:  {"id": 1, "ok": true, "entities": [{"name", "type", "description"}],
              "mentions": [{"path", "entity"}], "relations": [{"source", "target", "relationship"}]}
             {"id": 1, "ok": false, "error": "CognifyFailedError: ..."}

Each request starts from an empty cognee (prune), adds the documents and runs `cognify` (its LLM and
embedding endpoints come from the environment: LLM_PROVIDER, LLM_ENDPOINT, LLM_API_KEY, LLM_MODEL,
EMBEDDING_*), then reads `get_graph_data()` and maps it: cognee's Entity nodes become entities, the
documents whose chunks `contains` an entity mention it, Entity-Entity edges are relations. Only the
standard library and cognee are imported: this file is run by path, never imported by the job.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from typing import Any

# The answers' channel: the real stdout, kept before anything can print to it.
ANSWERS = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

OFFLINE_DEFAULTS = {  # the job's environment wins; these only fill what it leaves unset
    "COGNEE_SKIP_CONNECTION_TEST": "true", "TELEMETRY_DISABLED": "1", "HF_HUB_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm's bundled copy, not GitHub's
}
for _name, _value in OFFLINE_DEFAULTS.items():
    os.environ.setdefault(_name, _value)
if "TIKTOKEN_CACHE_DIR" not in os.environ:  # litellm ships the cl100k tokenizer: no download
    import litellm

    os.environ["TIKTOKEN_CACHE_DIR"] = os.path.join(os.path.dirname(litellm.__file__), "litellm_core_utils",
                                                    "tokenizers")

import cognee  # noqa: E402 - after the environment above
from cognee.infrastructure.databases.graph import get_graph_engine  # noqa: E402

ENTITY, CHUNK, DOCUMENT = "Entity", "DocumentChunk", "TextDocument"


def document_name(text: str) -> str:
    """The name cognee gives a text document it was handed as a string."""
    return "text_" + hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - cognee's own naming


def map_graph(nodes: list[tuple[str, dict[str, Any]]], edges: list[tuple[Any, ...]],
              documents: list[dict[str, str]]) -> dict[str, Any]:
    by_id = dict(nodes)
    paths = {document_name(doc["text"]): doc["path"] for doc in documents}
    doc_of_chunk = {}
    for source, target, relationship, *_ in edges:
        if relationship == "is_part_of" and by_id.get(source, {}).get("type") == CHUNK:
            doc_of_chunk[source] = paths.get(str(by_id.get(target, {}).get("name")))
    entities = {node_id: props for node_id, props in nodes if props.get("type") == ENTITY}
    types = {}
    for source, target, relationship, *_ in edges:
        if relationship == "is_a" and source in entities:
            types[source] = str(by_id.get(target, {}).get("name") or "")
    mentions, relations = set(), set()
    for source, target, relationship, *_ in edges:
        if relationship == "contains" and source in doc_of_chunk and target in entities and doc_of_chunk[source]:
            mentions.add((doc_of_chunk[source], str(entities[target]["name"])))
        elif source in entities and target in entities:
            relations.add((str(entities[source]["name"]), str(entities[target]["name"]), str(relationship)))
    return {
        "entities": sorted(({"name": str(props["name"]), "type": types.get(node_id, ""),
                             "description": str(props.get("description") or "")}
                            for node_id, props in entities.items()), key=lambda e: e["name"]),
        "mentions": [{"path": p, "entity": e} for p, e in sorted(mentions)],
        "relations": [{"source": s, "target": t, "relationship": r} for s, t, r in sorted(relations)],
    }


async def cognify(request: dict[str, Any]) -> dict[str, Any]:
    documents = [doc for doc in request["documents"] if doc["text"].strip()]
    await cognee.prune.prune_data()
    await cognee.prune.prune_system(metadata=True)
    if not documents:
        return {"entities": [], "mentions": [], "relations": []}
    dataset = "argus_" + hashlib.sha256(request["dataset"].encode()).hexdigest()[:16]
    await cognee.add([doc["text"] for doc in documents], dataset_name=dataset)
    await cognee.cognify(datasets=[dataset])
    engine = await get_graph_engine()
    nodes, edges = await engine.get_graph_data()
    return map_graph(nodes, edges, documents)


async def serve() -> None:
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        request: dict[str, Any] = {}
        try:
            request = json.loads(line)
            answer = {"id": request.get("id"), "ok": True, **(await cognify(request))}
        except Exception as exc:  # an answer for every request; the job decides what an error means
            answer = {"id": request.get("id"), "ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        ANSWERS.write(json.dumps(answer) + "\n")
        ANSWERS.flush()


if __name__ == "__main__":
    asyncio.run(serve())
