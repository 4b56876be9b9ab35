"""A local stand-in for the Anthropic Messages API, for tests only (no real LLM is ever called).

    with ClaudeStandIn(['{"selector": "#ok", "confidence": 0.9, "reason": "id"}']) as claude:
        settings = LLMSettings(base_url=claude.base_url, api_key=claude.api_key)
        ...
        claude.requests[0].json["model"]

It serves `POST /v1/messages` on 127.0.0.1 (a free port) from a `ThreadingHTTPServer` in a daemon thread.
Like the real API it first validates the request: 401 `authentication_error` when `x-api-key` is missing or
wrong, 400 `invalid_request_error` when `anthropic-version` is missing, the body is not JSON, or `model`,
`max_tokens` or `messages` are missing or invalid, 404 `not_found_error` on another path. A valid request
consumes the next scripted behaviour (a list is consumed in order; a callable is called with
`(request, index)`); when the script runs out the stand-in answers 500 `api_error`.

Behaviours: a `str` (or `Text`) is the assistant's text, wrapped in a proper Messages API response;
`Error(status, error_type, message)` is an HTTP error with an API error body; `Raw(status, body)` is any
body (e.g. malformed non-JSON); `Delay(seconds, then)` waits before answering with `then` (to trigger client
timeouts). Every request, valid or not, is recorded in `.requests` (method, path, headers, parsed JSON).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.standin_server import StandInServer

DEFAULT_API_KEY = "sk-standin-test-key"


@dataclass(frozen=True)
class Text:
    """A normal answer: `text` as the single text block of an assistant message."""

    text: str
    stop_reason: str = "end_turn"


@dataclass(frozen=True)
class Error:
    """An API error: HTTP `status` with `{"type": "error", "error": {"type": error_type, "message": ...}}`."""

    status: int
    error_type: str = "api_error"
    message: str = "Internal server error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Raw:
    """Any HTTP status and body bytes, e.g. a malformed (non-JSON) body."""

    status: int = 200
    body: bytes = b"<html>not json</html>"
    content_type: str = "text/html"


@dataclass(frozen=True)
class Delay:
    """Wait `seconds` (interrupted when the stand-in stops), then answer with `then`."""

    seconds: float
    then: Behaviour = Text('{"selector": null, "reason": "too late"}')


Behaviour = str | Text | Error | Raw | Delay
Script = list[Behaviour] | Callable[["RecordedRequest", int], Behaviour]

OVERLOADED = Error(529, "overloaded_error", "Overloaded")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    json: Any  # the parsed body, or None when it was not JSON
    body: bytes


class ClaudeStandIn(StandInServer):
    """Context manager running the stand-in; `.base_url`, `.api_key`, `.requests`, `.calls` (valid requests)."""

    thread_name = "claude-standin"

    def __init__(self, answers: Script, api_key: str = DEFAULT_API_KEY):
        super().__init__()
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.calls = 0  # requests that passed validation and consumed a behaviour
        self._answers = answers
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)

    def __enter__(self) -> ClaudeStandIn:
        return super().__enter__()  # type: ignore[no-any-return]

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()  # releases handlers sleeping in a Delay
        super().__exit__(*exc_info)

    @property
    def base_url(self) -> str:
        return self.address

    # -- behaviour
    def _next(self, request: RecordedRequest) -> Behaviour:
        with self._lock:
            index = self.calls
            self.calls += 1
        if callable(self._answers):
            return self._answers(request, index)
        if index < len(self._answers):
            return self._answers[index]
        return Error(500, "api_error", f"stand-in script exhausted (call {index + 1})")

    def _message(self, text: str, request: dict[str, Any], stop_reason: str) -> dict[str, Any]:
        prompt_chars = sum(len(json.dumps(m)) for m in request.get("messages", []))
        return {
            "id": f"msg_standin_{next(self._ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": request.get("model"),
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": max(1, prompt_chars // 4), "output_tokens": max(1, len(text) // 4)},
        }


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": error_type, "message": message},
                       "request_id": "req_standin"}).encode()


class _Handler(BaseHTTPRequestHandler):
    owner: ClaudeStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet server
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        request = RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                  parsed, body)
        with self.owner._lock:
            self.owner.requests.append(request)
        try:
            self._respond(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout)

    def _respond(self, request: RecordedRequest) -> None:
        if self.path.split("?")[0] != "/v1/messages" or self.command != "POST":
            return self._send(404, _error_body("not_found_error", f"{self.command} {self.path} not found"))
        key = request.headers.get("x-api-key")
        if not key:
            return self._send(401, _error_body("authentication_error", "x-api-key header is required"))
        if key != self.owner.api_key:
            return self._send(401, _error_body("authentication_error", "invalid x-api-key"))
        if not request.headers.get("anthropic-version"):
            return self._send(400, _error_body("invalid_request_error", "anthropic-version: header is required"))
        problem = _validate(request.json)
        if problem:
            return self._send(400, _error_body("invalid_request_error", problem))
        self._play(self.owner._next(request), request.json)

    def _play(self, behaviour: Behaviour, payload: dict[str, Any]) -> None:
        if isinstance(behaviour, Delay):
            if self.owner._stopping.wait(behaviour.seconds):
                return
            return self._play(behaviour.then, payload)
        if isinstance(behaviour, str):
            behaviour = Text(behaviour)
        if isinstance(behaviour, Text):
            body = json.dumps(self.owner._message(behaviour.text, payload, behaviour.stop_reason)).encode()
            return self._send(200, body)
        if isinstance(behaviour, Error):
            return self._send(behaviour.status, _error_body(behaviour.error_type, behaviour.message),
                              extra=behaviour.headers)
        if isinstance(behaviour, Raw):
            return self._send(behaviour.status, behaviour.body, content_type=behaviour.content_type)
        raise TypeError(f"unknown stand-in behaviour {behaviour!r}")

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("request-id", "req_standin")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def _validate(payload: Any) -> str | None:
    """The real API's complaint about a request body, or None when it is acceptable."""
    if not isinstance(payload, dict):
        return "request body must be a JSON object"
    for name in ("model", "max_tokens", "messages"):
        if name not in payload:
            return f"{name}: Field required"
    if not isinstance(payload["model"], str) or not payload["model"]:
        return "model: must be a non-empty string"
    if isinstance(payload["max_tokens"], bool) or not isinstance(payload["max_tokens"], int) \
            or payload["max_tokens"] < 1:
        return "max_tokens: must be a positive integer"
    messages = payload["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant") \
                or not isinstance(message.get("content"), str | list):
            return f"messages.{i}: each message needs a role (user|assistant) and content"
    if messages[0].get("role") != "user":
        return "messages: first message must use the \"user\" role"
    if "system" in payload and not isinstance(payload["system"], str | list):
        return "system: must be a string or a list of text blocks"
    return None


ClaudeStandIn.handler = _Handler  # defined after the stand-in, which it refers to
