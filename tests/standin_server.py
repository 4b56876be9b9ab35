"""What the local API stand-ins share: an HTTP server on 127.0.0.1 (a free port) in a daemon thread, run as a
context manager. A subclass sets `handler` (a BaseHTTPRequestHandler class with an `owner` attribute, which
is set to the stand-in) and may extend `__exit__`."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class StandInServer:
    handler: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str] = "standin"

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Any:  # the subclass
        handler = type("Handler", (self.handler,), {"owner": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def address(self) -> str:
        assert self._server is not None, f"use {type(self).__name__} as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"
