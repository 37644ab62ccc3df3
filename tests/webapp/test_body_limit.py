"""The ASGI body guard: bodies past the upload limit are refused with 413 as they arrive."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from webapp.bodylimit import BodySizeLimit


class ReadingApp:
    """An HTTP application that reads the whole body, then answers 202 with its length."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


def _call(app: Any, chunks: list[bytes], declared: int | None) -> list[dict[str, Any]]:
    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    scope = {"type": "http", "method": "POST", "path": "/api/ingest/flows/", "headers": headers}
    incoming = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
                for i, chunk in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_a_body_within_the_limit_reaches_the_application() -> None:
    inner = ReadingApp()

    sent = _call(BodySizeLimit(inner, 10), [b"12345", b"67890"], declared=10)

    assert sent[0]["status"] == 202 and inner.bodies == [b"1234567890"]


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    inner = ReadingApp()

    sent = _call(BodySizeLimit(inner, 10), [b"x" * 11], declared=11)

    assert sent[0]["status"] == 413 and inner.bodies == []
    assert json.loads(sent[1]["body"])["error"] == {
        "limit": "SEGSCOPE_MAX_UPLOAD_BYTES", "maximum": 10,
        "reason": "the body is 11 bytes; the limit is 10"}


def test_a_body_without_length_is_cut_off_once_it_passes_the_limit() -> None:
    inner = ReadingApp()

    sent = _call(BodySizeLimit(inner, 10), [b"x" * 6, b"x" * 6, b"x" * 6], declared=None)

    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
    assert inner.bodies == []
    assert "passed 12 bytes" in json.loads(sent[1]["body"])["error"]["reason"]


def test_websockets_pass_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    asyncio.run(BodySizeLimit(app, 10)({"type": "websocket"}, None, None))  # type: ignore[arg-type]

    assert seen == ["websocket"]
