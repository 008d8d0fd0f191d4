"""A local HTTP server that speaks enough of the Anthropic Messages API for tests.

The real `anthropic` SDK talks to it over a socket (JSON and SSE streaming), so the agent,
the SDK's retries and its error mapping are exercised for real, with no network and no
key. Replies are scripted: a queue of `Reply` objects, then an optional `responder`
callable for open-ended conversations. Every request is recorded with its byte size.

Usage is simulated plausibly: tokens are bytes / 4, and a request whose prefix (tools,
system, earlier messages) was marked with `cache_control` in an earlier request reads it
from the "cache", so token and cost figures behave like the real service's.

    with FakeMessagesAPI([tool_calls(("read_file", {"path": "a.py"})), text("done")]) as api:
        client = anthropic.Anthropic(api_key="sk-test", base_url=api.base_url)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ids = itertools.count(1)


@dataclass
class Reply:
    """One scripted answer: a message (status 200) or an error (status >= 400)."""

    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "end_turn"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str = ""
    error_message: str = ""
    usage: dict[str, int] | None = None
    """Overrides the simulated usage when given."""
    repeat: int = 1
    """Serve this reply this many times (e.g. 529 for every retry)."""


def text(message: str) -> Reply:
    """An assistant message with only text: the model ends its turn."""
    return Reply(content=[{"type": "text", "text": message}])


def tool_calls(*calls: tuple[str, dict[str, Any]], say: str = "") -> Reply:
    """An assistant message calling tools, optionally with some text first."""
    content: list[dict[str, Any]] = [{"type": "text", "text": say}] if say else []
    for name, args in calls:
        content.append({"type": "tool_use", "id": f"toolu_{next(_ids):06d}", "name": name,
                        "input": args})
    return Reply(content=content, stop_reason="tool_use")


def error(status: int, message: str = "", *, error_type: str = "",
          headers: dict[str, str] | None = None, repeat: int = 1) -> Reply:
    types = {400: "invalid_request_error", 401: "authentication_error",
             403: "permission_error", 404: "not_found_error", 429: "rate_limit_error",
             500: "api_error", 529: "overloaded_error"}
    return Reply(status=status, error_type=error_type or types.get(status, "api_error"),
                 error_message=message or f"fake error {status}", headers=headers or {},
                 repeat=repeat)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def size(self) -> int:
        """The request body's size in bytes."""
        return len(self.body)

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Responder = Callable[[dict[str, Any], int], "Reply | None"]
"""Called with (request JSON, request index) when the scripted queue is empty."""


class FakeMessagesAPI:
    """The server. Start with `start()` or `with`; `base_url` is what the SDK needs."""

    def __init__(self, replies: Iterable[Reply] = (), *, responder: Responder | None = None,
                 chunk_chars: int = 7) -> None:
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self.responder = responder
        self.chunk_chars = chunk_chars
        self.requests: list[RecordedRequest] = []
        self._cache: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.add(*replies)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeMessagesAPI:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                api._handle(self, body)

            def do_GET(self) -> None:  # noqa: N802
                self.send_response(404)
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True,
                                        name="fake-messages-api")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeMessagesAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}" if isinstance(host, str) else \
            f"http://{host.decode()}:{port}"

    def add(self, *replies: Reply) -> None:
        with self._lock:
            for reply in replies:
                self._queue.extend([reply] * max(1, reply.repeat))

    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith("/v1/messages")]

    # -- serving ----------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        with self._lock:
            index = len(self.requests)
            self.requests.append(RecordedRequest("POST", handler.path,
                                                 {k.lower(): v for k, v in
                                                  handler.headers.items()}, body))
            reply = self._queue.pop(0) if self._queue else None
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            request = {}
        if reply is None and self.responder is not None:
            reply = self.responder(request, index)
        if reply is None:
            reply = error(400, "fake server: no scripted reply left",
                          headers={"x-should-retry": "false"})
        if not handler.path.startswith("/v1/messages"):
            reply = error(404, f"fake server: no route {handler.path}")
        if reply.status >= 400:
            self._send_json(handler, reply.status, {
                "type": "error", "error": {"type": reply.error_type,
                                           "message": reply.error_message}}, reply.headers)
            return
        usage = reply.usage or self._usage(request, reply)
        message = {"id": f"msg_{index:06d}", "type": "message", "role": "assistant",
                   "model": request.get("model", "fake"), "content": reply.content,
                   "stop_reason": reply.stop_reason, "stop_sequence": None, "usage": usage}
        if request.get("stream"):
            self._send_sse(handler, message, reply.headers)
        else:
            self._send_json(handler, 200, message, reply.headers)

    @staticmethod
    def _send_json(handler: BaseHTTPRequestHandler, status: int, payload: Any,
                   headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        handler.send_header("request-id", "req_fake")
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(data)

    def _send_sse(self, handler: BaseHTTPRequestHandler, message: dict[str, Any],
                  headers: dict[str, str]) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("cache-control", "no-cache")
        handler.send_header("request-id", "req_fake")
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.end_headers()

        def event(kind: str, data: dict[str, Any]) -> None:
            handler.wfile.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())

        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None,
                 "usage": {**usage, "output_tokens": 1}}
        event("message_start", {"type": "message_start", "message": start})
        event("ping", {"type": "ping"})
        n = self.chunk_chars
        for i, block in enumerate(message["content"]):
            if block["type"] == "text":
                event("content_block_start", {"type": "content_block_start", "index": i,
                                              "content_block": {"type": "text", "text": ""}})
                body = block["text"]
                for j in range(0, len(body), n):
                    event("content_block_delta", {
                        "type": "content_block_delta", "index": i,
                        "delta": {"type": "text_delta", "text": body[j:j + n]}})
            else:
                event("content_block_start", {"type": "content_block_start", "index": i,
                                              "content_block": {**block, "input": {}}})
                raw = json.dumps(block["input"])
                step = max(1, len(raw) // 3 + 1)
                for j in range(0, len(raw), step):
                    event("content_block_delta", {
                        "type": "content_block_delta", "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": raw[j:j + step]}})
            event("content_block_stop", {"type": "content_block_stop", "index": i})
        event("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": message["stop_reason"],
                                          "stop_sequence": None},
                                "usage": {"output_tokens": usage["output_tokens"]}})
        event("message_stop", {"type": "message_stop"})
        handler.wfile.flush()

    # -- simulated usage -----------------------------------------------------------------------

    def _usage(self, request: dict[str, Any], reply: Reply) -> dict[str, int]:
        """Tokens as bytes/4, with a prompt cache keyed on request prefixes.

        The prefix is (tools, system, messages...); the breakpoints are where the request
        put `cache_control`. The longest earlier-cached prefix is a cache read; the part up
        to the last breakpoint beyond it is a cache write; the rest is plain input.
        """
        raw = [request.get("tools", []), request.get("system", "")]
        raw += list(request.get("messages", []))
        # As with the real service, the markers themselves are not part of the cached text:
        # moving the breakpoint to the newest message still hits the earlier prefix.
        parts = [json.dumps(without_cache_control(x), sort_keys=True) for x in raw]
        breakpoints = [k for k, x in enumerate(raw) if '"cache_control"' in json.dumps(x)]
        sizes = list(itertools.accumulate(len(p) // 4 for p in parts))
        digests = []
        h = hashlib.sha256()
        for p in parts:
            h.update(p.encode())
            digests.append(h.copy().hexdigest())
        with self._lock:
            read_k = max((k for k, d in enumerate(digests) if d in self._cache), default=-1)
            write_k = max((k for k in breakpoints if k > read_k), default=-1)
            for k in breakpoints:
                self._cache.add(digests[k])
        total = sizes[-1]
        cache_read = sizes[read_k] if read_k >= 0 else 0
        cache_write = (sizes[write_k] - cache_read) if write_k >= 0 else 0
        output = max(1, len(json.dumps(reply.content)) // 4)
        return {"input_tokens": max(0, total - cache_read - cache_write),
                "output_tokens": output, "cache_read_input_tokens": cache_read,
                "cache_creation_input_tokens": cache_write}


def without_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [without_cache_control(v) for v in value]
    return value
