"""Code embeddings: one vector per class and function, from a model that ships inside its wheel.

The model is WordLlama `l2_supercat` at 256 dimensions (token embeddings distilled from LLaMA 2's, average-
pooled and L2-normalised): its weights and tokenizer are files of the `wordllama` wheel, loaded from the
installed package, so nothing is downloaded at run time and a machine with no network embeds the same.
It is a bag-of-tokens model: it captures what code is *about* (its names, words and calls), not its control
flow, which is what "which code is like X" asks. An entity's text is its kind, its split identifiers, its
file's path words and its source (cut at MAX_SOURCE_CHARS: the head of a definition says what it does).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from argus_streams.knowledge_graph.cognify import CodeGraph
from argus_streams.knowledge_graph.model import CLASS, FUNCTION, LABELS, Extraction

CONFIG = "l2_supercat"
DIM = 256
MODEL_NAME = f"wordllama-{CONFIG}-{DIM}"
MAX_SOURCE_CHARS = 2000
EMBEDDED_LABELS = (LABELS[CLASS], LABELS[FUNCTION])
_KINDS = {LABELS[CLASS]: CLASS, LABELS[FUNCTION]: FUNCTION}
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\b|[^A-Za-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


@functools.cache
def model() -> Any:
    """The packaged model, loaded once per process (~0.4 s). Never touches the network."""
    from importlib import resources

    from safetensors import safe_open
    from wordllama.config import Config
    from wordllama.wordllama import WordLlama, WordLlamaInference

    package = Path(str(resources.files("wordllama")))
    config = Config._configurations[CONFIG]
    tokenizer_file = package / "tokenizers" / getattr(WordLlama, CONFIG).tokenizer_config
    weights_file = package / "weights" / f"{CONFIG}_{DIM}.safetensors"
    for needed in (tokenizer_file, weights_file):
        if not needed.is_file():  # the wheel is the model: without these files there is nothing to fall back on
            raise FileNotFoundError(f"{needed} is missing from the wordllama package")
    tokenizer = WordLlama.load_tokenizer(tokenizer_file, config)
    with safe_open(str(weights_file), framework="np", device="cpu") as weights:
        embedding = weights.get_tensor("embedding.weight")
    return WordLlamaInference(embedding, config, tokenizer)


def embed(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), DIM) float32, each row of unit length (so cosine similarity is a dot product)."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    vectors = np.asarray(model().embed(list(texts), norm=True), dtype=np.float32)
    return vectors.reshape(len(texts), DIM)


def identifier_words(name: str) -> str:
    """`parse_event` -> "parse event", `renderLoginForm` -> "render login form", `HTTPServer` -> "http server"."""
    return " ".join(word.lower() for word in _WORD.findall(name))


def entity_text(label: str, qname: str, path: str, source: str) -> str:
    """What an entity is embedded as. `qname` is "path::Local.name"; only its local part is words."""
    local = qname.partition("::")[2] or qname
    kind = _KINDS.get(label, label.lower())
    return f"{kind} {identifier_words(local)}\n{identifier_words(path)}\n{source[:MAX_SOURCE_CHARS]}"


@dataclass(frozen=True)
class CodeVectorRow:
    """One entity to embed: the node's id and hash (a changed hash means a new vector), and its text."""

    entity_id: str
    kind: str
    qname: str
    name: str
    path: str
    hash: str
    text: str


def embeddable(graph: CodeGraph, extraction: Extraction) -> dict[str, CodeVectorRow]:
    """node id -> row, for every class and function of the graph, with the source it was extracted from."""
    sources = {(symbol.kind, f"{parsed.path}::{symbol.qname}"): symbol.source
               for parsed in extraction.files for symbol in parsed.symbols}
    wanted: dict[str, CodeVectorRow] = {}
    for node in graph.nodes.values():
        if node.label not in EMBEDDED_LABELS:
            continue
        qname, path = str(node.props["qname"]), str(node.props["path"])
        source = sources.get((_KINDS[node.label], qname), "")
        wanted[node.id] = CodeVectorRow(node.id, _KINDS[node.label], qname, str(node.props["name"]), path,
                                        node.hash, entity_text(node.label, qname, path, source))
    return wanted
