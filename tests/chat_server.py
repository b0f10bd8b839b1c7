"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for tests and benchmarks.

Each request's image (the data URL of its first ``image_url`` part) and prompt go to an answer function
``answer(image_bytes, prompt, call_index) -> str | Reply``: a string is the assistant's reply, a
:class:`Reply` can also delay, fail with a status (429 with Retry-After, 500, ...), or drop the
connection. ``call_index`` counts the requests this server saw before for the same image and prompt
(retries included), so "fail the first time, answer the second" is easy to write.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass(frozen=True)
class Reply:
    """What the server does for one request."""

    text: str | None = None  # the assistant message (status 200)
    status: int = 200
    retry_after: float | None = None  # Retry-After header (seconds)
    delay: float = 0.0  # seconds to wait before answering (on top of the server's latency)
    drop: bool = False  # close the connection without an answer
    raw: bytes | None = None  # a 200 whose body is these bytes instead of a chat completion


AnswerFn = Callable[[bytes, str, int], "str | Reply"]


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    start: float
    end: float
    image_sha256: str
    prompt: str
    call_index: int
    status: int  # 0 for a dropped connection
    body: dict = field(repr=False)


class ChatServer:
    """``with ChatServer(answer) as server: VLMConfig(base_url=server.url, model=server.model)``.

    ``latency`` delays every answer; ``api_key`` (if set) must come as the Bearer token (else 401);
    a model other than ``model`` gets 404. ``seen`` lists the requests; ``max_in_flight`` the most
    requests it handled at once.
    """

    def __init__(self, answer: AnswerFn, *, latency: float = 0.0, api_key: str | None = None,
                 model: str = "test-vlm") -> None:
        self.answer, self.latency, self.api_key, self.model = answer, latency, api_key, model
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL for the openai client (ends in /v1)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> "ChatServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "ChatServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _next_index(self, sha: str, prompt: str) -> int:
        with self._lock:
            index = self._counts.get((sha, prompt), 0)
            self._counts[(sha, prompt)] = index + 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return index

    def _done(self, record: Seen) -> None:
        with self._lock:
            self.in_flight -= 1
            self.seen.append(record)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # listen backlog: many clients connect at once


def _handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
            self._send(status, {"error": {"message": message, "type": "test_server", "code": status}}, headers)

        def do_GET(self) -> None:  # noqa: N802 - the model list, as OpenAI-compatible servers serve it
            if self.path != "/v1/models":
                return self._error(404, f"no route {self.path}")
            if server.api_key is not None and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                return self._error(401, "invalid API key")
            self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            start = time.perf_counter()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if not self.path.endswith("/chat/completions"):
                return self._error(404, f"no route {self.path}")
            if server.api_key is not None and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                return self._error(401, "invalid API key")
            if body.get("model") != server.model:
                return self._error(404, f"model {body.get('model')!r} does not exist")
            prompt, image = "", b""
            for part in body["messages"][-1]["content"]:
                if part["type"] == "text":
                    prompt = part["text"]
                elif part["type"] == "image_url" and not image:
                    image = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
            sha = hashlib.sha256(image).hexdigest()
            index = server._next_index(sha, prompt)
            status = 0
            try:
                reply = server.answer(image, prompt, index)
                if isinstance(reply, str):
                    reply = Reply(text=reply)
                time.sleep(server.latency + reply.delay)
                if reply.drop:
                    self.close_connection = True
                    return
                status = reply.status
                if reply.raw is not None:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(reply.raw)))
                    self.end_headers()
                    self.wfile.write(reply.raw)
                    return
                if status != 200:
                    headers = {"Retry-After": f"{reply.retry_after:g}"} if reply.retry_after is not None else {}
                    return self._error(status, "simulated failure", headers)
                self._send(200, {
                    "id": f"chatcmpl-{sha[:8]}-{index}", "object": "chat.completion", "created": int(time.time()),
                    "model": server.model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply.text}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 3, "total_tokens": 103},
                })
            except (BrokenPipeError, ConnectionResetError):
                status = 0
            finally:
                server._done(Seen(start, time.perf_counter(), sha, prompt, index, status, body))

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve in this process until stdin closes (for benchmarks that keep the server off the client's
    interpreter): prints the base URL, then on exit one JSON line {image sha256: requests seen}."""
    import argparse
    import importlib
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--answer", required=True, help="module:function answering (image, prompt, call_index)")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--model", default="test-vlm")
    args = parser.parse_args(argv)
    module, name = args.answer.split(":")
    with ChatServer(getattr(importlib.import_module(module), name), latency=args.latency, model=args.model) as server:
        print(server.url, flush=True)
        sys.stdin.read()
    counts: dict[str, int] = {}
    for seen in server.seen:
        counts[seen.image_sha256] = counts.get(seen.image_sha256, 0) + 1
    print(json.dumps({"requests": counts, "max_in_flight": server.max_in_flight}), flush=True)


if __name__ == "__main__":
    main()
