"""Cognify: an extraction -> graph nodes and edges with stable ids and content hashes, and the diff to apply.

A node's id is a hash of (tenant, project, kind, qualified name), never of a line number, so a moved
function stays one node; its `hash` is of its source text and properties, so an unchanged entity is
never rewritten. `diff` compares the wanted graph with what a store holds for the project.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from argus_streams.knowledge_graph.model import (
    CONTAINS,
    FILE,
    LABELS,
    PROJECT,
    Entity,
    Extraction,
)

ID_CHARS = 32


def stable_id(tenant: str, project: str, kind: str, qname: str) -> str:
    return hashlib.sha256("\x00".join((tenant, project, kind, qname)).encode()).hexdigest()[:ID_CHARS]


def content_hash(props: dict[str, Any], source_digest: str) -> str:
    text = json.dumps(props, sort_keys=True, default=str) + source_digest
    return hashlib.sha256(text.encode()).hexdigest()[:ID_CHARS]


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    props: dict[str, Any]  # everything the node stores, hash and tenant_id included

    @property
    def hash(self) -> str:
        return str(self.props["hash"])


@dataclass(frozen=True)
class Edge:
    type: str
    src: str
    dst: str
    src_label: str
    dst_label: str


@dataclass
class CodeGraph:
    tenant: str
    project: str
    nodes: dict[str, Node]
    edges: set[Edge]

    @property
    def entity_count(self) -> int:
        return sum(1 for n in self.nodes.values() if n.label not in ("Project", "File"))


@dataclass
class GraphDiff:
    """What one store must do to hold exactly `CodeGraph`: in this order (edges go before their nodes)."""

    gone_edges: list[Edge] = field(default_factory=list)
    gone_nodes: list[tuple[str, str]] = field(default_factory=list)  # (label, id)
    nodes: list[Node] = field(default_factory=list)  # new or changed
    edges: list[Edge] = field(default_factory=list)  # new

    @property
    def empty(self) -> bool:
        return not (self.gone_edges or self.gone_nodes or self.nodes or self.edges)


def _node(tenant: str, project: str, entity: Entity) -> Node:
    props: dict[str, Any] = {"qname": entity.qname, "name": entity.name, "path": entity.path, **dict(entity.props)}
    props = {k: v for k, v in props.items() if v is not None}  # a null property is an absent one in both stores
    node_id = stable_id(tenant, project, entity.kind, entity.qname)
    node_props = {**props, "id": node_id, "tenant_id": tenant, "project_id": project,
                  "hash": content_hash(props, entity.source_digest)}
    return Node(node_id, LABELS[entity.kind], node_props)


def project_node(tenant: str, project: str, codebase_path: str) -> Node:
    props = {"qname": project, "name": project, "codebase_path": codebase_path}
    node_id = stable_id(tenant, project, PROJECT, project)
    return Node(node_id, LABELS[PROJECT],
                {**props, "id": node_id, "tenant_id": tenant, "project_id": project, "hash": content_hash(props, "")})


def cognify(extraction: Extraction, tenant: str, project: str, codebase_path: str) -> CodeGraph:
    """The graph of one codebase: Project -CONTAINS-> File, and every extracted entity and relation."""
    root = project_node(tenant, project, codebase_path)
    nodes = {root.id: root}
    ids: dict[tuple[str, str], Node] = {}
    for key, entity in extraction.entities.items():
        node = _node(tenant, project, entity)
        nodes[node.id] = ids[key] = node
    edges = {Edge(CONTAINS, root.id, ids[key].id, root.label, ids[key].label)
             for key in extraction.entities if key[0] == FILE}
    for relation in extraction.relations:
        src, dst = ids[relation.src], ids[relation.dst]
        edges.add(Edge(relation.type, src.id, dst.id, src.label, dst.label))
    return CodeGraph(tenant, project, nodes, edges)


def diff(graph: CodeGraph, held_nodes: dict[str, tuple[str, str]], held_edges: set[Edge]) -> GraphDiff:
    """`held_nodes`: id -> (label, hash) of the project's code nodes in a store; `held_edges`: its code edges."""
    return GraphDiff(
        gone_edges=sorted(held_edges - graph.edges, key=_edge_order),
        gone_nodes=sorted((label, node_id) for node_id, (label, _) in held_nodes.items() if node_id not in graph.nodes),
        nodes=sorted((n for n in graph.nodes.values() if held_nodes.get(n.id) != (n.label, n.hash)),
                     key=lambda n: (n.label, n.id)),
        edges=sorted(graph.edges - held_edges, key=_edge_order),
    )


def _edge_order(edge: Edge) -> tuple[str, ...]:
    return (edge.type, edge.src_label, edge.dst_label, edge.src, edge.dst)
