"""Threads kept for the synchronous part of HTTP requests, lent one a request.

Django's ASGI handler runs a request's middleware, view and signals on a thread of the
request's own (asgiref's ThreadSensitiveContext), which it starts and then joins in another
new thread: two thread starts a request, a fifth of a web process's CPU at ingest rates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

# Threads past this many, idle at once, end (a burst's extra threads are not kept for ever).
MAX_IDLE = 64


class RequestThreads:
    """Wraps Django's HTTP ASGI application: each request's synchronous code runs on one
    thread, as Django would run it, but the thread is lent from those that earlier requests
    left idle rather than started for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Only the event loop touches the list: no lock. The newest idle first: its thread is
        # the warmest.
        executor = self._idle.pop() if self._idle else ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="request")
        try:
            # Django's own ThreadSensitiveContext inside this one keeps to it.
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
        finally:
            if len(self._idle) < MAX_IDLE:
                self._idle.append(executor)
            else:
                executor.shutdown(wait=False)
