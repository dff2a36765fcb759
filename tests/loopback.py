"""A tiny HTTP server on 127.0.0.1 for download tests: fixed routes, counted requests.

A route is `(status, body, declared_length or None)`, or with a fourth element, a `Pace`
that makes the server slow: send the body in small pieces with a pause after each, stop
sending after some bytes (a stall), or wait before answering at all."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Pace:
    chunk: int = 1 << 16  # bytes per write
    pause: float = 0.0  # seconds after each write
    stall_after: int | None = None  # stop sending after this many bytes (until shutdown)
    silent: bool = False  # accept the connection, never answer (until shutdown)


class LoopbackServer:
    """Serves `routes[path]` on a free loopback port (see the module docstring)."""

    def __init__(self, routes: dict[str, tuple]) -> None:
        self.routes = routes
        self.hits: dict[str, int] = {}
        self.closing = threading.Event()  # wakes stalled handlers at shutdown
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                route = server.routes.get(self.path, (404, b"not found", None))
                status, body, declared = route[:3]
                pace = route[3] if len(route) > 3 else None
                try:
                    if pace is not None and pace.silent:
                        server.closing.wait()
                        return
                    self.send_response(status)
                    self.send_header("Content-Length", str(declared or len(body)))
                    self.end_headers()
                    if pace is None:
                        self.wfile.write(body)  # a declared length > len(body): truncated
                    else:
                        self._paced(body, pace)
                    self.wfile.flush()
                except OSError:  # the client gave up (the test's point): nothing to do
                    pass
                self.close_connection = True

            def _paced(self, body: bytes, pace: Pace) -> None:
                end = len(body) if pace.stall_after is None else min(pace.stall_after, len(body))
                for start in range(0, end, pace.chunk):
                    self.wfile.write(body[start:min(start + pace.chunk, end)])
                    self.wfile.flush()
                    if pace.pause and server.closing.wait(pace.pause):
                        return
                if pace.stall_after is not None:
                    server.closing.wait()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
