"""A local stand-in for the OpenAI API (chat completions, embeddings), for tests only: no real LLM is called.

    with OpenAIStandIn() as llm:
        env = {"LLM_ENDPOINT": llm.base_url, "LLM_API_KEY": llm.api_key, ...}

Serves `POST /v1/chat/completions` and `POST /v1/embeddings` on 127.0.0.1 (a free port). Like the real API
it answers 401 without the right `Authorization: Bearer` key, 400 on a body that is not JSON or lacks
`model` / `messages` / `input`, 404 on another path. Its answers are deterministic and valid against the
schema the client asks for, in every structured-output form clients use: a `tools` function call
(instructor's TOOLS mode: the answer is a `tool_calls` entry whose arguments fit the tool's parameters), a
`response_format` of type `json_schema` or `json_object` (the answer is the message content), or plain text.

What it answers (its "model"): a JSON-schema object is filled from the user message. A knowledge graph
(an object with `nodes` and `edges` arrays of objects) gets one node per code identifier in the text
(`backticked`, CamelCase or snake_case words: `Cart`, `check_quantity`, `CartModel.validate`) and an edge
`mentioned_with` between identifiers of the same sentence; any other string field gets the text's first
sentence, numbers 0, booleans false, other arrays []. Embeddings are unit vectors from hashing the text's
words, so the same text always gets the same vector (`dimensions` from the request, else the model's size).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.standin_server import StandInServer

DEFAULT_API_KEY = "sk-standin-openai"
# As OpenAI's models: a request without `dimensions` gets the model's full size.
MODEL_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
DEFAULT_DIMENSIONS = 1536
IDENTIFIER = re.compile(r"`([A-Za-z_][\w.]*)`|\b([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+(?:\.[A-Za-z_]\w*)?)\b"
                        r"|\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b")
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


@dataclass
class RecordedRequest:
    path: str
    json: Any


def identifiers(text: str) -> list[str]:
    """Code identifiers in order of first appearance."""
    seen: dict[str, None] = {}
    for match in IDENTIFIER.finditer(text):
        seen.setdefault(next(group for group in match.groups() if group), None)
    return list(seen)


def first_sentence(text: str) -> str:
    stripped = " ".join(text.split())
    return (SENTENCE.split(stripped, maxsplit=1)[0] or "nothing")[:200]


def knowledge_graph(text: str) -> dict[str, list[dict[str, Any]]]:
    nodes = [{"id": name, "name": name, "type": "CodeConcept",
              "description": f"{name}, as the document describes it"} for name in identifiers(text)]
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for sentence in SENTENCE.split(text):
        names = identifiers(sentence)
        for a, b in itertools.combinations(names, 2):
            edges.setdefault((a, b), {"source_node_id": a, "target_node_id": b, "relationship_name": "mentioned_with",
                                      "description": f"{a} is mentioned with {b}"})
    return {"nodes": nodes, "edges": list(edges.values())}


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def fill(schema: dict[str, Any], text: str, defs: dict[str, Any] | None = None) -> Any:
    """A value valid against `schema` (the subset pydantic emits), derived from `text`."""
    defs = {**(defs or {}), **schema.get("$defs", {}), **schema.get("definitions", {})}
    schema = _resolve(schema, defs)
    for key in ("anyOf", "oneOf"):
        if key in schema:  # prefer a non-null option
            options = [_resolve(option, defs) for option in schema[key]]
            return fill(next((o for o in options if o.get("type") != "null"), options[0]), text, defs)
    if "allOf" in schema:
        return fill(_resolve(schema["allOf"][0], defs), text, defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if kind == "object":
        properties = schema.get("properties", {})
        if _is_graph(properties, defs):
            graph = knowledge_graph(text)
            return {name: graph[name] if name in graph else fill(spec, text, defs)
                    for name, spec in properties.items()}
        return {name: fill(spec, text, defs) for name, spec in properties.items()
                if name in schema.get("required", properties)}
    if kind == "array":
        return []
    if kind == "string":
        return first_sentence(text)
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    return None


def _is_graph(properties: dict[str, Any], defs: dict[str, Any]) -> bool:
    def items(name: str) -> dict[str, Any]:
        spec = _resolve(properties.get(name, {}), defs)
        return _resolve(spec.get("items", {}), defs) if spec.get("type") == "array" else {}
    return "id" in items("nodes").get("properties", {}) and "source_node_id" in items("edges").get("properties", {})


def embedding(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()) or ["empty"]:
        digest = hashlib.sha256(word.encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % dimensions] += 1.0 if digest[4] % 2 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class OpenAIStandIn(StandInServer):
    """Context manager running the stand-in; `.base_url` (ends in /v1), `.api_key`, `.requests`."""

    thread_name = "openai-standin"

    def __init__(self, api_key: str = DEFAULT_API_KEY):
        super().__init__()
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def __enter__(self) -> OpenAIStandIn:
        return super().__enter__()  # type: ignore[no-any-return]

    @property
    def base_url(self) -> str:
        return f"{self.address}/v1"

    def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        text = "\n".join(_content(m) for m in request["messages"] if m.get("role") == "user")
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "stop"
        tools = request.get("tools") or []
        response_format = request.get("response_format") or {}
        if tools:
            function = tools[0]["function"]
            arguments = fill(function.get("parameters", {}), text)
            message["tool_calls"] = [{"id": f"call_{next(self._ids)}", "type": "function",
                                      "function": {"name": function["name"], "arguments": json.dumps(arguments)}}]
            finish = "tool_calls"
        elif response_format.get("type") == "json_schema":
            message["content"] = json.dumps(fill(response_format["json_schema"]["schema"], text))
        elif response_format.get("type") == "json_object":
            message["content"] = json.dumps(knowledge_graph(text))
        else:
            message["content"] = first_sentence(text)
        prompt_tokens = max(1, sum(len(_content(m)) for m in request["messages"]) // 4)
        completion_tokens = max(1, len(json.dumps(message)) // 4)
        return {"id": f"chatcmpl-standin-{next(self._ids)}", "object": "chat.completion", "created": 0,
                "model": request["model"], "system_fingerprint": "standin",
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    def embeddings(self, request: dict[str, Any]) -> dict[str, Any]:
        inputs = request["input"] if isinstance(request["input"], list) else [request["input"]]
        model = str(request["model"]).rsplit("/", 1)[-1]
        dimensions = int(request.get("dimensions") or MODEL_DIMENSIONS.get(model, DEFAULT_DIMENSIONS))
        data = [{"object": "embedding", "index": i, "embedding": embedding(str(text), dimensions)}
                for i, text in enumerate(inputs)]
        tokens = sum(len(str(text)) for text in inputs) // 4 + 1
        return {"object": "list", "data": data, "model": request["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _content(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def _error(status: int, kind: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"message": message, "type": kind, "param": None, "code": None}}


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAIStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet server
        pass

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        with self.owner._lock:
            self.owner.requests.append(RecordedRequest(self.path, parsed))
        status, answer = self._answer(parsed)
        data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:  # noqa: N802
        self.do_POST()

    def _answer(self, request: Any) -> tuple[int, dict[str, Any]]:
        path = self.path.split("?")[0].rstrip("/")
        if self.command != "POST" or path not in ("/v1/chat/completions", "/v1/embeddings"):
            return _error(404, "invalid_request_error", f"Unknown request URL: {self.command} {self.path}")
        if self.headers.get("authorization") != f"Bearer {self.owner.api_key}":
            return _error(401, "invalid_request_error", "Incorrect API key provided")
        if not isinstance(request, dict) or not request.get("model"):
            return _error(400, "invalid_request_error", "you must provide a model parameter in a JSON body")
        if path.endswith("/embeddings"):
            if "input" not in request:
                return _error(400, "invalid_request_error", "'input' is a required property")
            return 200, self.owner.embeddings(request)
        if not isinstance(request.get("messages"), list) or not request["messages"]:
            return _error(400, "invalid_request_error", "'messages' is a required property")
        return 200, self.owner.chat(request)


OpenAIStandIn.handler = _Handler  # defined after the stand-in, which it refers to
