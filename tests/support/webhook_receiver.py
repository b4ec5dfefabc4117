"""A real webhook receiver for tests: an HTTP server on 127.0.0.1 in a thread that checks each
signature the way docs/api.md tells receivers to, de-duplicates by event id, and can be told to
fail (an error status, a slow answer) or be down (not listening) for a while.

    receiver = WebhookReceiver(secret="...")
    receiver.start()                      # or start(port) to come up on a port chosen earlier
    ... receiver.url, receiver.requests, receiver.processed ...
    receiver.stop()
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from keliu.service.webhooks import verify_signature

__all__ = ["Received", "WebhookReceiver", "free_port"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when it arrived
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    status: int  # what the receiver answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """See the module docstring. ``answer(received_so_far) -> status`` decides each answer (default
    200); a 2xx answer to a valid signature counts the event as processed, once per event id."""

    def __init__(
        self,
        secret: str = "",
        *,
        answer: Callable[[int], int] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.secret = secret
        self.answer = answer or (lambda _n: 200)
        self.delay_s = delay_s
        self.requests: list[Received] = []
        self.processed: Counter[str] = Counter()  # event id -> times processed (1 after de-dup)
        self.duplicates = 0
        self.cut_short = 0  # requests whose body ended before its Content-Length: not received
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/keliu"

    def start(self, port: int = 0) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request (a test's SIGKILL): nobody to answer
                    with receiver._lock:
                        receiver.cut_short += 1
                    return
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                headers = {k.lower(): v for k, v in self.headers.items()}
                ok = verify_signature(receiver.secret, body, headers.get("x-keliu-signature", ""))
                with receiver._lock:
                    status = receiver.answer(len(receiver.requests)) if ok else 401
                    receiver.requests.append(Received(time.monotonic(), self.path, headers, body, ok, status))
                    if 200 <= status < 300:
                        event_id = headers.get("x-keliu-event-id", "")
                        if event_id in receiver.processed:
                            receiver.duplicates += 1  # de-duplicated: acknowledged, not processed again
                        else:
                            receiver.processed[event_id] += 1
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver says no")

            def log_message(self, *_args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server(("127.0.0.1", port), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s; {len(self.requests)} requests so far")
            time.sleep(0.02)
