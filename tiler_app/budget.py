"""Bounded work per request, around the whole app (every router, the STAC API and the static files):
a URL longer than MAX_URL_BYTES answers 414, a body larger than MAX_BODY_BYTES answers 413 before it
is read (a declared Content-Length) or as soon as it passes the cap (chunked), and a request that has
not started its answer within the time budget answers 503 instead of keeping its client waiting.
A statistics request that names a band more than once reads it once (:class:`BandsReadOnce`).

The budget cannot stop a thread that is rendering (Python cannot interrupt it); the parameter limits
(``tiler_app.limits``) keep every render short, the answer goes out on time, and a worker stuck for
good is replaced by the supervisor (``tiler_app.supervisor``).
"""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import parse_qsl, urlencode

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiler_app.limits import MAX_BANDS

#: Longest request target (path and query) answered; longer ones get 414. The server's HTTP parser
#: accepts up to MAX_HEADER_BYTES of request line and headers, so a long URL gets an answer, not a reset.
MAX_URL_BYTES = 16 * 1024
MAX_HEADER_BYTES = 1024 * 1024
#: Largest request body (a few features of GeoJSON, a STAC search); larger ones get 413.
MAX_BODY_BYTES = 1024 * 1024
#: Seconds a request may take before its answer starts; past it the client gets 503.
#: ``DEVSCORE_REQUEST_SECONDS`` overrides it (read when the app is made).
REQUEST_SECONDS = 20.0


def request_seconds() -> float:
    """The time budget of a request: DEVSCORE_REQUEST_SECONDS, else REQUEST_SECONDS."""
    value = float(os.environ.get("DEVSCORE_REQUEST_SECONDS", REQUEST_SECONDS))
    return value if value > 0 and value == value else REQUEST_SECONDS


def _body_too_large() -> HTTPException:
    return HTTPException(413, f"the body is larger than the limit of {MAX_BODY_BYTES} bytes (MAX_BODY_BYTES)")


def _forget(task: asyncio.Task) -> None:
    """Retrieve an abandoned task's outcome so that asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


def _error(status: int, message: str) -> tuple[Message, Message]:
    body = json.dumps({"detail": message}).encode()
    return ({"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]},
            {"type": "http.response.body", "body": body})


class RequestBudget:
    """ASGI middleware: 414 past MAX_URL_BYTES, 413 past MAX_BODY_BYTES, 503 past the time budget."""

    def __init__(self, app: ASGIApp, seconds: float | None = None) -> None:
        self.app = app
        self.seconds = seconds or request_seconds()
        self._abandoned: set[asyncio.Task] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b"")) > MAX_URL_BYTES:
            await self._answer(send, 414, f"the URL is longer than the limit of {MAX_URL_BYTES} bytes (MAX_URL_BYTES)")
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"0")
        if not declared.isdigit():
            await self._answer(send, 400, "invalid Content-Length")
            return
        if int(declared) > MAX_BODY_BYTES:
            await self._answer(send, 413, _body_too_large().detail)
            return
        state = {"started": False, "closed": False, "received": 0}

        async def capped_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > MAX_BODY_BYTES:
                    raise _body_too_large()  # answered 413 by the app's HTTPException handler
            return message

        async def guarded_send(message: Message) -> None:
            if state["closed"]:
                return  # the budget has answered already
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, capped_receive, guarded_send))
        done, _ = await asyncio.wait({task}, timeout=self.seconds)
        if task in done:
            task.result()
            return
        state["closed"] = True
        task.cancel()  # a render in a thread runs on, but no one waits for it
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)
        task.add_done_callback(_forget)
        if not state["started"]:
            await self._answer(send, 503, f"the request took more than its budget of {self.seconds:g} s; "
                                          "ask for less (a smaller size, fewer values) or retry")

    @staticmethod
    async def _answer(send: Send, status: int, message: str) -> None:
        start, body = _error(status, message)
        await send(start)
        await send(body)


class BandsReadOnce:
    """ASGI middleware: a statistics request that repeats a band (``bidx=1&bidx=1``) reads it once. Its
    answer is keyed by band (``b1``), so a repeat changes nothing in it but reads the data once more (4 x
    ``bidx=1`` at max_size 2048, the costliest request the limits allowed: 4.6 s instead of 1.6 s). More
    than MAX_BANDS values are left as they are, for the request limits to refuse."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/statistics"):
            pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            bands = [value for name, value in pairs if name == "bidx"]
            if len(set(bands)) < len(bands) <= MAX_BANDS:
                seen: set[str] = set()
                kept = [(name, value) for name, value in pairs
                        if name != "bidx" or not (value in seen or seen.add(value))]
                scope = dict(scope, query_string=urlencode(kept).encode("latin-1"))
        await self.app(scope, receive, send)
