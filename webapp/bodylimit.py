"""An ASGI guard that refuses request bodies past SEGSCOPE_MAX_UPLOAD_BYTES with 413 while they
arrive: Django's ASGI handler buffers a whole body to a temporary file before any view runs."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class BodySizeLimit:
    """Wraps an HTTP ASGI application: a declared Content-Length over `max_bytes` is answered at
    once, a body that grows past it while it is read is cut off; both with the ingest API's 413
    (limit SEGSCOPE_MAX_UPLOAD_BYTES), before the application sees the request."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, f"the body is {declared} bytes")
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(received)
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge as too_large:
            # Django reads the whole body before it answers, so no response has started.
            await self._refuse(send, f"the body passed {too_large.size} bytes")

    async def _refuse(self, send: Send, what: str) -> None:
        reason = f"{what}; the limit is {self.max_bytes}"
        body = json.dumps({"error": {"limit": "SEGSCOPE_MAX_UPLOAD_BYTES",
                                     "maximum": self.max_bytes, "reason": reason}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdecimal() else None
    return None
